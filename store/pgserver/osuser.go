package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultOSUser is the system user the cluster runs as when this process is
// root (PostgreSQL refuses to run as root). Debian's postgresql package creates it.
const DefaultOSUser = "postgres"

// osUser is the identity the PostgreSQL programs run as. A nil *osUser means
// "as this process".
type osUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32 // primary and supplementary group ids
}

// clusterUser decides who runs the cluster: nobody special unless we are root.
func clusterUser(name string) (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if name == "" {
		name = DefaultOSUser
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root, PostgreSQL must run as another user, "+
			"and system user %q was not found (%w); %q creates it, or set Config.OSUser",
			name, err, "apt-get install -y postgresql")
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: user %q: uid %q: %w", name, u.Uid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("pgserver: Config.OSUser %q is root; PostgreSQL refuses to run as root", name)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: user %q: gid %q: %w", name, u.Gid, err)
	}
	o := &osUser{name: name, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(o.groups, uint32(g)) {
				o.groups = append(o.groups, uint32(g))
			}
		}
	}
	return o, nil
}

// command builds an exec.Cmd that runs as u, with a scrubbed environment:
// PG* variables (PGPORT, PGDATA, ...) would silently change what the programs
// do, and a C locale keeps their messages parseable.
func command(ctx context.Context, u *osUser, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/" // the caller's working directory may not be readable by u
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C", "LANG=C")
	// pg_ctl start leaves the postmaster writing to its own log file, so the
	// output pipes close when pg_ctl exits; this bounds the wait if one does not.
	cmd.WaitDelay = 10 * time.Second
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups[1:]},
		}
	}
	return cmd
}

// run runs a program as u and returns its trimmed combined output; a failure
// carries that output, which is how initdb and pg_ctl explain themselves.
func run(ctx context.Context, u *osUser, name string, args ...string) (string, error) {
	out, err := command(ctx, u, name, args...).CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err != nil {
		if text == "" {
			return "", fmt.Errorf("%s: %w", filepath.Base(name), err)
		}
		return text, fmt.Errorf("%s: %w: %s", filepath.Base(name), err, text)
	}
	return text, nil
}

// chownTree gives dir and everything under it to u.
func chownTree(dir string, u *osUser) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
}

// chownFile gives one file to u (no-op when u is nil).
func chownFile(path string, u *osUser) error {
	if u == nil {
		return nil
	}
	return os.Chown(path, int(u.uid), int(u.gid))
}

// ensureTraversable makes every directory from dir up to / searchable by u,
// adding only the one execute bit u needs (owner, group or other, following
// POSIX's permission classes) and never read or write. Directories made by
// t.TempDir (0700, root) and root's home (0700) need this; nothing else about
// them changes and each change is logged.
func ensureTraversable(dir string, u *osUser, log *slog.Logger) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return fmt.Errorf("pgserver: stat %s: %w", d, err)
		}
		var bit uint32
		switch {
		case st.Uid == u.uid:
			bit = 0o100
		case slices.Contains(u.groups, st.Gid):
			bit = 0o010
		default:
			bit = 0o001
		}
		if st.Mode&bit == 0 {
			mode := st.Mode&0o7777 | bit
			if err := syscall.Chmod(d, mode); err != nil {
				return fmt.Errorf("pgserver: make %s traversable by %s: %w", d, u.name, err)
			}
			log.Info("pgserver: made directory traversable for the PostgreSQL user",
				"dir", d, "user", u.name, "mode", fmt.Sprintf("%04o", mode))
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

// errInUse: another live process holds the data directory.
var errInUse = errors.New("pgserver: data directory is in use by another process")

// lockDir takes an exclusive, non-blocking flock on the data directory
// itself, held for the Server's life. The kernel drops it when this process
// dies however it dies, so "unlocked" reliably means "no live owner": that is
// how Start tells a postmaster orphaned by a killed owner (stop it) from one
// another live process is using (refuse). The descriptor is close-on-exec, so
// pg_ctl and postgres never inherit the lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: open data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", errInUse, dir)
		}
		return nil, fmt.Errorf("pgserver: lock data directory: %w", err)
	}
	return f, nil
}
