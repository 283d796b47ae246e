package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

// testdata/rfc6962_vectors.json is the RFC 6962 reference test set as
// published in github.com/transparency-dev/merkle (proof/verify_test.go,
// v0.0.2), copied verbatim because Go test files cannot be imported. The
// leaves and roots are cross-checked below against the importable
// testonly package of the same module, so the copy cannot drift silently.

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type vectors struct {
	Leaves    []hexBytes `json:"leaves"`
	Roots     []hexBytes `json:"roots"`
	Inclusion []struct {
		Leaf, Size uint64
		Proof      []hexBytes
	} `json:"inclusion"`
	Consistency []struct {
		Size1, Size2 uint64
		Proof        []hexBytes
	} `json:"consistency"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/rfc6962_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Inclusion) != 6 || len(v.Consistency) != 5 {
		t.Fatalf("vector file holds %d inclusion and %d consistency vectors, want 6 and 5", len(v.Inclusion), len(v.Consistency))
	}
	for i, leaf := range testonly.LeafInputs() {
		if !bytes.Equal(v.Leaves[i], leaf) {
			t.Fatalf("vector leaf %d differs from testonly.LeafInputs", i)
		}
	}
	for size, root := range testonly.RootHashes()[1:] {
		if !bytes.Equal(v.Roots[size], root) {
			t.Fatalf("vector root of size %d differs from testonly.RootHashes", size+1)
		}
	}
	return v
}

func proofOf(p []hexBytes) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}

func equalProofs(got [][]byte, want []hexBytes) bool { return equalHashes(got, proofOf(want)) }

func TestReferenceInclusionVectorsPassOurVerifier(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Inclusion {
		if tc.Leaf == 0 {
			continue // {0, 0} is the set's deliberately invalid entry
		}
		index, p := tc.Leaf-1, proofOf(tc.Proof)
		leaf := v.Leaves[index]
		cp := Checkpoint{Origin: testOrigin, Size: tc.Size, Root: v.Roots[tc.Size-1]}
		t.Run(fmt.Sprintf("leaf %d of %d verifies", index, tc.Size), func(t *testing.T) {
			if err := VerifyInclusion(leaf, index, p, cp); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(fmt.Sprintf("leaf %d of %d refuses every corruption", index, tc.Size), func(t *testing.T) {
			for name, c := range inclusionCorruptions(leaf, index, p, cp) {
				if err := VerifyInclusion(c.leaf, c.index, c.proof, c.cp); err == nil {
					t.Errorf("verified with %s", name)
				} else {
					wantFailure(t, err, ErrNotIncluded, "audit_inclusion_failed")
				}
			}
		})
	}
}

type inclusionCase struct {
	leaf  []byte
	index uint64
	proof [][]byte
	cp    Checkpoint
}

// inclusionCorruptions mirrors the probes of the transparency-dev tests.
func inclusionCorruptions(leaf []byte, index uint64, p [][]byte, cp Checkpoint) map[string]inclusionCase {
	withSize := func(n uint64) Checkpoint { c := cp; c.Size = n; return c }
	withRoot := func(r []byte) Checkpoint { c := cp; c.Root = r; return c }
	out := map[string]inclusionCase{
		"index - 1":         {leaf, index - 1, p, cp},
		"index + 1":         {leaf, index + 1, p, cp},
		"index ^ 2":         {leaf, index ^ 2, p, cp},
		"size * 2":          {leaf, index, p, withSize(cp.Size * 2)},
		"size / 2":          {leaf, index, p, withSize(cp.Size / 2)},
		"a wrong leaf":      {[]byte("WrongLeaf"), index, p, cp},
		"the empty root":    {leaf, index, p, withRoot(hasher.EmptyRoot())},
		"trailing garbage":  {leaf, index, append(clone(p), []byte{}), cp},
		"a trailing root":   {leaf, index, append(clone(p), cp.Root), cp},
		"preceding garbage": {leaf, index, append([][]byte{{}}, p...), cp},
		"a preceding root":  {leaf, index, append([][]byte{cp.Root}, p...), cp},
	}
	for i := range p {
		q := clone(p)
		q[i] = append([]byte(nil), q[i]...)
		q[i][0] ^= 8
		out[fmt.Sprintf("proof[%d] bit 3 flipped", i)] = inclusionCase{leaf, index, q, cp}
	}
	if len(p) > 0 {
		out["a removed component"] = inclusionCase{leaf, index, p[:len(p)-1], cp}
	}
	return out
}

func TestReferenceConsistencyVectorsPassOurVerifier(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Consistency {
		p := proofOf(tc.Proof)
		older := Checkpoint{Origin: testOrigin, Size: tc.Size1, Root: v.Roots[tc.Size1-1]}
		newer := Checkpoint{Origin: testOrigin, Size: tc.Size2, Root: v.Roots[tc.Size2-1]}
		t.Run(fmt.Sprintf("%d to %d verifies", tc.Size1, tc.Size2), func(t *testing.T) {
			if err := VerifyConsistency(older, newer, p); err != nil {
				t.Fatal(err)
			}
		})
		if len(p) == 0 {
			continue
		}
		t.Run(fmt.Sprintf("%d to %d refuses every corruption", tc.Size1, tc.Size2), func(t *testing.T) {
			for name, c := range consistencyCorruptions(older, newer, p) {
				if err := VerifyConsistency(c.older, c.newer, c.proof); err == nil {
					t.Errorf("verified with %s", name)
				}
			}
		})
	}
}

type consistencyCase struct {
	older, newer Checkpoint
	proof        [][]byte
}

func consistencyCorruptions(older, newer Checkpoint, p [][]byte) map[string]consistencyCase {
	size := func(c Checkpoint, n uint64) Checkpoint { c.Size = n; return c }
	root := func(c Checkpoint, r []byte) Checkpoint { c.Root = r; return c }
	out := map[string]consistencyCase{
		"size1 - 1":           {size(older, older.Size-1), newer, p},
		"size1 + 1":           {size(older, older.Size+1), newer, p},
		"size1 ^ 2":           {size(older, older.Size^2), newer, p},
		"size2 * 2":           {older, size(newer, newer.Size*2), p},
		"size2 / 2":           {older, size(newer, newer.Size/2), p},
		"a wrong root1":       {root(older, []byte("WrongRoot")), newer, p},
		"a wrong root2":       {older, root(newer, []byte("WrongRoot")), p},
		"swapped roots":       {root(older, newer.Root), root(newer, older.Root), p},
		"an empty proof":      {older, newer, [][]byte{}},
		"trailing garbage":    {older, newer, append(clone(p), []byte{})},
		"a trailing root1":    {older, newer, append(clone(p), older.Root)},
		"a trailing root2":    {older, newer, append(clone(p), newer.Root)},
		"preceding garbage":   {older, newer, append([][]byte{{}}, p...)},
		"a preceding root1":   {older, newer, append([][]byte{older.Root}, p...)},
		"a preceding root2":   {older, newer, append([][]byte{newer.Root}, p...)},
		"a repeated proof[0]": {older, newer, append([][]byte{p[0]}, p...)},
		"a truncated proof":   {older, newer, p[:len(p)-1]},
	}
	for i := range p {
		q := clone(p)
		q[i] = append([]byte(nil), q[i]...)
		q[i][0] ^= 16
		out[fmt.Sprintf("proof[%d] bit 4 flipped", i)] = consistencyCase{older, newer, q}
	}
	return out
}

func clone(p [][]byte) [][]byte { return append([][]byte(nil), p...) }

func TestVerifyConsistencyNamesForksAndShrinks(t *testing.T) {
	v := loadVectors(t)
	cp := func(size uint64, root []byte) Checkpoint {
		return Checkpoint{Origin: testOrigin, Size: size, Root: root}
	}
	p26 := proofOf(v.Consistency[3].Proof) // 2 → 5

	wantFailure(t, VerifyConsistency(cp(5, v.Roots[4]), cp(2, v.Roots[1]), p26), ErrShrunk, "audit_shrunk")
	wantFailure(t, VerifyConsistency(cp(5, v.Roots[4]), cp(5, v.Roots[3]), nil), ErrFork, "audit_fork")
	wantFailure(t, VerifyConsistency(cp(2, v.Roots[1]), cp(5, v.Roots[4]), nil), ErrMissingProof, "audit_consistency_failed")
	wantFailure(t, VerifyConsistency(cp(2, v.Roots[1]), cp(5, v.Roots[3]), p26), ErrInconsistent, "audit_consistency_failed")
	other := cp(5, v.Roots[4])
	other.Origin = "another.log/example"
	wantFailure(t, VerifyConsistency(cp(2, v.Roots[1]), other, p26), ErrWrongOrigin, "audit_consistency_failed")
	if err := VerifyConsistency(cp(5, v.Roots[4]), cp(5, v.Roots[4]), nil); err != nil {
		t.Fatalf("a checkpoint is consistent with itself: %v", err)
	}
	if err := VerifyConsistency(cp(0, hasher.EmptyRoot()), cp(5, v.Roots[4]), nil); err != nil {
		t.Fatalf("any log extends the empty log: %v", err)
	}
}
