package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries means the PostgreSQL server programs were not found. Start
// wraps it with the directories searched and how to install them.
var ErrNoBinaries = errors.New("pgserver: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")

// installHint is the remedy appended to ErrNoBinaries.
const installHint = `install them with "apt-get install -y postgresql" (Debian/Ubuntu), ` +
	`or put the directory holding initdb, pg_ctl and postgres on PATH or in Config.BinDirs`

// libRoot is where Debian and Ubuntu install each PostgreSQL major version
// (/usr/lib/postgresql/<version>/bin); those directories are not on PATH.
const libRoot = "/usr/lib/postgresql"

type binaries struct {
	dir      string
	initdb   string
	pgCtl    string
	postgres string
}

// findBinaries returns, in search order, the directories of dirs holding all
// three server programs. They must come from one directory: initdb and
// pg_ctl run the postgres next to them, and mixing major versions breaks the
// data directory.
func findBinaries(dirs []string) ([]binaries, error) {
	var found []binaries
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		b := binaries{
			dir:      dir,
			initdb:   filepath.Join(dir, "initdb"),
			pgCtl:    filepath.Join(dir, "pg_ctl"),
			postgres: filepath.Join(dir, "postgres"),
		}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) && isExecutable(b.postgres) {
			found = append(found, b)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w in %s; %s", ErrNoBinaries, describeDirs(dirs), installHint)
	}
	return found, nil
}

// pickBinaries returns the first candidate that runs and, when the data
// directory already holds a cluster (dataVersion is its PG_VERSION, e.g.
// "15"), is of that major version: after installing a newer PostgreSQL next
// to the old one, the highest version is no longer the right one, and
// PostgreSQL refuses data files of another major version. It also returns
// the chosen postgres's version line.
func pickBinaries(ctx context.Context, candidates []binaries, u *osUser, dataVersion string) (binaries, string, error) {
	var seen []string
	for _, b := range candidates {
		out, err := run(ctx, u, b.postgres, "--version")
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", b.dir, err))
			continue
		}
		if dataVersion == "" || sameMajor(out, dataVersion) {
			return b, out, nil
		}
		seen = append(seen, fmt.Sprintf("%s: %s", b.dir, out))
	}
	if dataVersion == "" {
		return binaries{}, "", fmt.Errorf("pgserver: no working PostgreSQL binaries (%s)", strings.Join(seen, "; "))
	}
	return binaries{}, "", fmt.Errorf("pgserver: the data directory was created by PostgreSQL %s, "+
		"but no binaries of that major version were found (%s); install them "+
		"(apt-get install -y postgresql-%s) or upgrade the cluster with pg_upgrade",
		dataVersion, strings.Join(seen, "; "), dataVersion)
}

// sameMajor reports whether postgres --version output ("postgres
// (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") is of major version major
// ("15", or "9.6" before PostgreSQL 10).
func sameMajor(versionOutput, major string) bool {
	_, after, ok := strings.Cut(versionOutput, "(PostgreSQL) ")
	if !ok {
		return false
	}
	v, _, _ := strings.Cut(after, " ")
	rest, ok := strings.CutPrefix(v, major)
	// "15.18", "15", "16beta1" match their major; "150.1" does not match "15".
	return ok && (rest == "" || rest[0] < '0' || rest[0] > '9')
}

// defaultBinDirs is the search order when Config.BinDirs is empty: PATH
// first (an explicit choice by whoever set it up), then every installed major
// version under root, highest first.
func defaultBinDirs(pathEnv, root string) []string {
	dirs := filepath.SplitList(pathEnv)
	entries, err := os.ReadDir(root)
	if err != nil {
		return dirs // no PostgreSQL packages installed
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() {
			versions = append(versions, e.Name())
		}
	}
	slices.SortFunc(versions, func(a, b string) int { return compareVersions(b, a) })
	for _, v := range versions {
		dirs = append(dirs, filepath.Join(root, v, "bin"))
	}
	return dirs
}

// compareVersions orders dotted numeric versions ("9.6" < "10" < "16");
// names that are not versions sort before every version.
func compareVersions(a, b string) int {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	return slices.Compare(pa, pb)
}

func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func describeDirs(dirs []string) string {
	var nonEmpty []string
	for _, d := range dirs {
		if d != "" {
			nonEmpty = append(nonEmpty, d)
		}
	}
	if len(nonEmpty) == 0 {
		return "no directories (PATH is empty and " + libRoot + " holds no versions)"
	}
	return strings.Join(nonEmpty, ", ")
}
