// Package console is Relais's web console: server-rendered pages from the
// Go binary for the people who do not use a terminal.
//
// Two consoles share one framework:
//
//   - the hub console (NewHub), mounted by `relais serve --console`, for
//     auditors (trail search, per-transfer timelines, verifiable bundles,
//     checkpoint status) and operators (agencies and keys, queue depths,
//     dead letters with replay, loaded corridor agreements). It shows
//     metadata and proofs only: the hub never holds a child's file;
//   - the agent console (NewAgent), mounted by `relais agent`, for case
//     workers and supervisors at a site: inbox, decrypted files, answers,
//     the referral form generated from the contract, drafts, override
//     approval with the supervisor's own key, transfer timelines. Keys and
//     plaintext never leave the site.
//
// The framework (this file's neighbours) renders html/template pages
// embedded in the binary, in French by default and in English, with
// Arabic and Portuguese catalogues that may be partial and a layout that
// flips right-to-left; keeps sessions on the server behind HttpOnly,
// Secure, SameSite=Strict cookies; checks a CSRF token on every form;
// sends a strict Content-Security-Policy (no inline script or style, no
// third-party asset); and marks every page no-store, since pages may hold
// a child's data. docs/console.md gives the reasons.
package console
