package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Load reads agreement files and directories (searched recursively for
// *.yaml and *.yml, skipping hidden entries) and validates them strictly.
// The error is a *LoadError listing every mistake with its file, line and
// field: unknown keys, values outside the protocol's vocabularies, country
// codes that are not ISO 3166-1, unreadable durations and dates, the same
// agreement id and version twice, and two agreements that cover the same
// pair of parties for the same kind at the same time.
func Load(paths ...string) (*Set, error) {
	files, err := readSources(paths)
	if err != nil {
		return nil, err
	}
	return build(files)
}

// source is one agreement file as read from disk.
type source struct {
	name string
	data []byte
}

// readSources lists and reads the files under paths, in a stable order.
func readSources(paths []string) ([]source, error) {
	if len(paths) == 0 {
		return nil, errors.New("policy: no agreement file or directory given")
	}
	var names []string
	seen := map[string]bool{}
	add := func(name string) {
		key := filepath.Clean(name)
		if abs, err := filepath.Abs(name); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			names = append(names, name)
		}
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			hidden := path != p && strings.HasPrefix(d.Name(), ".")
			switch {
			case d.IsDir() && hidden:
				return filepath.SkipDir
			case d.IsDir() || hidden:
				return nil
			case isAgreementFile(d.Name()):
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("policy: reading %s: %w", p, err)
		}
		slices.Sort(found)
		for _, f := range found {
			add(f)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("policy: no agreement (*.yaml) found in %s", strings.Join(paths, ", "))
	}
	files := make([]source, 0, len(names))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		files = append(files, source{name: name, data: data})
	}
	return files, nil
}

func isAgreementFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// digest fingerprints a list of sources: names and contents.
func digest(files []source) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f.name))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(f.data))))
		h.Write([]byte{0})
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// build parses every source and checks the agreements against each other.
func build(files []source) (*Set, error) {
	var issues []Issue
	var corridors []*Corridor
	for _, f := range files {
		c, fileIssues := parseFile(f.name, f.data)
		issues = append(issues, fileIssues...)
		if c != nil {
			corridors = append(corridors, c)
		}
	}
	issues = append(issues, crossCheck(corridors)...)
	if len(issues) > 0 {
		return nil, &LoadError{Issues: issues}
	}
	return newSet(corridors, digest(files)), nil
}
