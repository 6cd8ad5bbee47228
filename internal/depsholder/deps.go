// Package depsholder pins modules that packages under construction import, so that go.mod and go.sum
// keep them while those packages land. It is deleted once every module here is imported for real.
package depsholder

import (
	_ "github.com/crewjam/saml"
	_ "github.com/dop251/goja"
	_ "github.com/emersion/go-smtp"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/sdk/worker"
	_ "go.temporal.io/sdk/workflow"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	_ "go.temporal.io/server/temporal"
	_ "golang.org/x/crypto/argon2"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
