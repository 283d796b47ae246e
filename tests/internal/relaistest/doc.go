// Package relaistest is the harness the black-box test packages under
// tests/ share: the relais binary built once per test binary, a clean
// environment for the processes under test, `relais serve` run as a
// subprocess, CLI invocations with their output captured, and a poller
// to wait for asynchronous outcomes instead of sleeping.
package relaistest
