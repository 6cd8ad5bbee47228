package pgserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// How long leftovers get to exit after a fast-shutdown request before they
// are killed, and after SIGKILL before Start gives up.
const (
	leftoverGrace = 15 * time.Second
	killGrace     = 5 * time.Second
	pollInterval  = 50 * time.Millisecond
)

// clusterProcesses lists the PostgreSQL processes running on dataDir: the
// postmaster and every child it forked chdir to the data directory, so "the
// executable is postgres and the working directory is dataDir" identifies
// them without trusting postmaster.pid (whose pid may since have been reused
// by an unrelated process). It relies on Linux's /proc.
func clusterProcesses(dataDir string) ([]int, error) {
	real, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: resolve %s: %w", dataDir, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("pgserver: list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || cwd != real {
			continue // gone, not ours to inspect, or elsewhere
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		// The kernel appends " (deleted)" when the binary was replaced by an upgrade.
		if filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "postgres" {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// postmasterPID reads the pid recorded in dataDir/postmaster.pid (0 if none).
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// clearLeftovers makes dataDir startable after a previous owner died without
// stopping the cluster. The caller holds the directory lock, so any process
// still running there belongs to a dead owner:
//   - a live postmaster gets a fast shutdown (SIGINT, what pg_ctl stop -m fast
//     sends); children of a killed postmaster exit by themselves; both get
//     leftoverGrace, then SIGKILL;
//   - then postmaster.pid and socket lock files are removed: after a crash
//     their pid may belong to an unrelated live process, which would make
//     PostgreSQL refuse to start ("lock file already exists").
func clearLeftovers(ctx context.Context, dataDir string, log *slog.Logger) error {
	pids, err := clusterProcesses(dataDir)
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		if pm := postmasterPID(dataDir); slices.Contains(pids, pm) {
			log.Warn("pgserver: stopping PostgreSQL left running by a previous owner of the data directory",
				"data_dir", dataDir, "pid", pm)
			if err := syscall.Kill(pm, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("pgserver: signal leftover postmaster %d: %w", pm, err)
			}
		} else {
			log.Warn("pgserver: waiting for processes of a crashed PostgreSQL to exit",
				"data_dir", dataDir, "pids", pids)
		}
		pids, err = waitGone(ctx, dataDir, leftoverGrace)
		if err != nil {
			return err
		}
		if len(pids) > 0 {
			log.Warn("pgserver: killing leftover PostgreSQL processes", "data_dir", dataDir, "pids", pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL) // it may have exited meanwhile
			}
			if pids, err = waitGone(ctx, dataDir, killGrace); err != nil {
				return err
			}
			if len(pids) > 0 {
				return fmt.Errorf("pgserver: PostgreSQL processes %v on %s survived SIGKILL", pids, dataDir)
			}
		}
	}
	return removeStaleFiles(dataDir, log)
}

// waitGone polls until no cluster process runs on dataDir or d passes, and
// returns the ones still running.
func waitGone(ctx context.Context, dataDir string, d time.Duration) ([]int, error) {
	deadline := time.Now().Add(d)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		pids, err := clusterProcesses(dataDir)
		if err != nil || len(pids) == 0 || time.Now().After(deadline) {
			return pids, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pgserver: waiting for leftover PostgreSQL processes: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// removeStaleFiles deletes postmaster.pid and the socket files. Only called
// when no process runs on dataDir, so they are stale by definition; the
// socket directory is private to this data directory.
func removeStaleFiles(dataDir string, log *slog.Logger) error {
	stale := []string{filepath.Join(dataDir, "postmaster.pid")}
	sockets, err := filepath.Glob(filepath.Join(dataDir, ".s.PGSQL.*"))
	if err != nil {
		return fmt.Errorf("pgserver: list socket files: %w", err)
	}
	stale = append(stale, sockets...)
	for _, f := range stale {
		err := os.Remove(f)
		switch {
		case err == nil:
			log.Info("pgserver: removed stale file left by a previous run", "file", f)
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("pgserver: remove stale %s: %w", f, err)
		}
	}
	return nil
}
