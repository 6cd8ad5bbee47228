package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
	// The "sqlite" database/sql driver, as Temporal's SQLite plugin uses it.
	_ "modernc.org/sqlite"
)

const (
	// DefaultNamespace is the namespace registered when Config.Namespace is empty.
	DefaultNamespace = "default"
	// DefaultIP is the address the frontend binds to when Config.IP is empty.
	DefaultIP = "127.0.0.1"
	// DefaultRetention is the closed-workflow retention of a newly registered namespace.
	DefaultRetention = 24 * time.Hour
	// DBFileName is the SQLite file created inside Config.DataDir.
	DBFileName = "temporal.db"

	// clusterName is the single local cluster's name; it is persisted in the
	// database, so it must never change between releases.
	clusterName = "active"
	// loopback is where every internal service (history, matching, worker) binds.
	loopback = "127.0.0.1"
)

// Config configures an embedded Temporal server. The zero value of every field
// except DataDir is usable.
type Config struct {
	// DataDir holds the SQLite database (DataDir/temporal.db). It is created if
	// missing. Required.
	DataDir string
	// Namespace is registered at start if it does not exist yet. Default "default".
	Namespace string
	// IP is the address the frontend gRPC service binds to. Default 127.0.0.1.
	// Internal services always bind to loopback.
	IP string
	// FrontendPort is the frontend gRPC port; 0 picks a free port.
	FrontendPort int
	// Logger receives Temporal's own log records at WARN and above. Nil discards them.
	Logger *slog.Logger
	// Retention is the namespace's closed-workflow retention, applied only when
	// the namespace is first registered. Default 24h.
	Retention time.Duration
}

// withDefaults returns a copy of c with zero fields filled in, or an error if
// c cannot be used.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("devserver: DataDir is required")
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.IP == "" {
		c.IP = DefaultIP
	}
	if net.ParseIP(c.IP) == nil {
		// The server expects an IP, not a host name.
		return c, fmt.Errorf("devserver: IP %q is not an IP address", c.IP)
	}
	if c.FrontendPort < 0 || c.FrontendPort > 65535 {
		return c, fmt.Errorf("devserver: FrontendPort %d out of range", c.FrontendPort)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Retention < 0 {
		return c, fmt.Errorf("devserver: negative Retention %s", c.Retention)
	}
	return c, nil
}

// Server is a running embedded Temporal server.
type Server struct {
	frontend string
	server   temporal.Server
	logger   *serverLogger

	stopOnce sync.Once
	stopErr  error
}

// Start sets up the database in cfg.DataDir (schema on first use, namespace if
// missing) and starts all Temporal services in this process. It returns once
// the frontend accepts calls. If ctx ends before that, the server is stopped
// and ctx's error returned.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devserver: start: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: create data dir: %w", err)
	}

	ports, err := freePorts(cfg.IP, cfg.FrontendPort)
	if err != nil {
		return nil, err
	}
	frontendHost := cfg.IP
	if ip := net.ParseIP(cfg.IP); ip.IsUnspecified() {
		// Bound to every interface: reach it (and let the worker service
		// reach it) through loopback.
		frontendHost = loopback
	}
	frontend := net.JoinHostPort(frontendHost, strconv.Itoa(ports.frontend))

	sqlCfg := sqlConfig(filepath.Join(cfg.DataDir, DBFileName))
	if err := prepareDB(ctx, sqlCfg, cfg.Namespace, cfg.Retention); err != nil {
		return nil, err
	}

	logger := &serverLogger{log: cfg.Logger}
	logger.level.Set(slog.LevelWarn)
	srv, err := temporal.NewServer(
		temporal.WithConfig(serverConfig(cfg.IP, frontend, ports, sqlCfg)),
		temporal.ForServices(temporal.DefaultServices),
		// Static membership: one host per service, no ringpop gossip and
		// no membership ports, which is also what makes start-up fast.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(frontend),
			primitives.HistoryService:  static.SingleLocalHost(hostPort(ports.history)),
			primitives.MatchingService: static.SingleLocalHost(hostPort(ports.matching)),
			primitives.WorkerService:   static.SingleLocalHost(hostPort(ports.worker)),
		}),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig()),
		// Nobody scrapes the embedded server; skip the Prometheus listener.
		temporal.WithCustomMetricsHandler(metrics.NoopMetricsHandler),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: build server: %w", err)
	}

	// temporal.Server.Start takes no context. If ctx ends meanwhile, let
	// Start finish (the server bounds it by its own start timeout) and stop
	// the server, so that nothing is left running behind the error.
	started := make(chan error, 1)
	go func() { started <- srv.Start() }()
	s := &Server{frontend: frontend, server: srv, logger: logger}
	select {
	case err := <-started:
		if err != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("devserver: start: %w", err)
		}
		return s, nil
	case <-ctx.Done():
		<-started
		_ = s.Stop()
		return nil, fmt.Errorf("devserver: start: %w", ctx.Err())
	}
}

// FrontendAddress is the host:port an SDK client dials (client.Options.HostPort).
func (s *Server) FrontendAddress() string { return s.frontend }

// Stop shuts every service down and releases the database. It is safe to call
// more than once and from several goroutines; later calls return the first
// call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		// Shutdown routinely logs warnings (pollers cut off, shards
		// closing) that mean nothing here.
		s.logger.level.Set(slog.LevelError)
		if err := s.server.Stop(); err != nil {
			s.stopErr = fmt.Errorf("devserver: stop: %w", err)
		}
	})
	return s.stopErr
}

// sqlConfig is the SQLite store at path. WAL with synchronous=normal keeps
// every commit off fsync's critical path (DESIGN §1) while staying crash-safe
// for the database itself; a power cut may lose the last transactions.
func sqlConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
		},
	}
}

// keptVisibilityIndex is the one secondary index of the visibility table that
// trimVisibility keeps: the order of an unfiltered `temporal workflow list`.
const keptVisibilityIndex = "default_idx"

// trimVisibility drops every secondary index of the visibility table
// (executions_visibility) in the SQLite file path except keptVisibilityIndex.
// It runs before the server starts, at every start, so it also trims a file
// written by an earlier release (once; later starts find nothing to drop).
//
// Why: the SQLite visibility schema indexes every column and search attribute
// (58 indexes in v1.32, each including the close time), so each workflow's
// start and close records cost dozens of B-tree updates: with one workflow
// per login that was about 9 % of a login's CPU (docs/performance.md).
// Keyflow never lists, counts or scans workflows and uses no Schedules; the
// rows only serve `temporal workflow list` against the embedded frontend.
// Indexes make those queries faster, never different: they scan instead. The
// full-text tables (Text and KeywordList search attributes) and their triggers
// stay. Keyflow never upgrades this file's schema in place (the embedded
// server's version is pinned, ADR 0001); a release that does must recreate
// the indexes its migrations expect.
func trimVisibility(ctx context.Context, path string) error {
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("devserver: open %s: %w", path, err)
	}
	defer func() { _ = conn.Close() }()
	var tables int
	if err := conn.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'executions_visibility'`).Scan(&tables); err != nil {
		return fmt.Errorf("devserver: read visibility schema: %w", err)
	}
	if tables != 1 {
		// Not the schema we expect: better to fail start-up than to run on an
		// unknown layout.
		return errors.New("devserver: the database has no executions_visibility table")
	}
	rows, err := conn.QueryContext(ctx,
		`SELECT name FROM sqlite_master
		 WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL AND name <> ?`,
		keptVisibilityIndex)
	if err != nil {
		return fmt.Errorf("devserver: list visibility indexes: %w", err)
	}
	names, err := collectNames(rows)
	if err != nil {
		return fmt.Errorf("devserver: list visibility indexes: %w", err)
	}
	for _, n := range names {
		// n comes from sqlite_master; quote it as an identifier all the same.
		if _, err := conn.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(n, `"`, `""`)+`"`); err != nil {
			return fmt.Errorf("devserver: drop visibility index %s: %w", n, err)
		}
	}
	return nil
}

func collectNames(rows *sql.Rows) ([]string, error) {
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// prepareDB creates the schema when the database file is new and registers the
// namespace when it is missing. Both happen before the server starts because
// the server neither creates SQLite schemas nor waits for namespaces.
func prepareDB(ctx context.Context, sqlCfg *config.SQL, namespace string, retention time.Duration) error {
	_, err := os.Stat(sqlCfg.DatabaseName)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			// Leave no half-built file behind, or the next start would skip setup.
			_ = os.Remove(sqlCfg.DatabaseName)
			return fmt.Errorf("devserver: set up schema: %w", err)
		}
	case err != nil:
		return fmt.Errorf("devserver: database file: %w", err)
	}
	if err := trimVisibility(ctx, sqlCfg.DatabaseName); err != nil {
		return err
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return fmt.Errorf("devserver: namespace config: %w", err)
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return fmt.Errorf("devserver: register namespace %q: %w", namespace, err)
	}
	return nil
}

// dynamicConfig holds the settings that make a single-node server quick.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// The default 20 polls/s adds ≈50 ms to every task hop (DESIGN §1).
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 10000,
		// One partition: with several, a task can wait on a partition no
		// poller is on and stall for seconds before being forwarded.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// The login flow is UpdateWithStart + Updates with eager start
		// (DESIGN §3). These default to on in v1.32; pin them so an upgrade
		// that flips a default cannot silently break logins.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		dynamicconfig.EnableEagerWorkflowStart.Key():                           true,
		// As the Temporal CLI's dev server: persistence limits are sized for
		// a cluster of many hosts; one host must not throttle itself.
		dynamicconfig.FrontendPersistenceMaxQPS.Key():                    10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():                     45000,
		dynamicconfig.MatchingPersistenceMaxQPS.Key():                    10000,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,

		// The default mutable-state cache (128k entries) is sized for a
		// production host, not an embedded one.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
	}
}

// serverConfig is the static server configuration: one cluster, one history
// shard, SQLite for both default and visibility stores (the latter trimmed,
// trimVisibility), archival off.
func serverConfig(ip, frontend string, ports servicePorts, sqlCfg *config.SQL) *config.Config {
	const store = "sqlite-default"
	var c config.Config
	c.Global.Membership.MaxJoinDuration = 30 * time.Second
	c.Global.Membership.BroadcastAddress = loopback
	c.Persistence = config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  store,
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
	}
	c.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
		},
	}
	c.DCRedirectionPolicy.Policy = "noop"
	c.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: ports.frontend, BindOnIP: ip}},
		string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: ports.history, BindOnIP: loopback}},
		string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: ports.matching, BindOnIP: loopback}},
		string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: ports.worker, BindOnIP: loopback}},
	}
	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (system workflows) dials the frontend here.
	c.PublicClient.HostPort = frontend
	return &c
}

// servicePorts are the gRPC ports of the four services.
type servicePorts struct {
	frontend, history, matching, worker int
}

// freePorts picks the ports: the frontend's (unless fixed) on ip, the internal
// ones on loopback. All listeners stay open until every port is chosen so the
// kernel cannot hand the same port out twice; another process may still take
// one between here and the server's bind, which start-up then reports.
func freePorts(ip string, frontendPort int) (servicePorts, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	pick := func(host string) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("devserver: pick free port on %s: %w", host, err)
		}
		listeners = append(listeners, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}

	var p servicePorts
	var err error
	p.frontend = frontendPort
	if p.frontend == 0 {
		if p.frontend, err = pick(ip); err != nil {
			return p, err
		}
	}
	for _, port := range []*int{&p.history, &p.matching, &p.worker} {
		if *port, err = pick(loopback); err != nil {
			return p, err
		}
	}
	return p, nil
}

func hostPort(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }
