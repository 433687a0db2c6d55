package testsupport

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres returns a pool on the database named by ENRICHMETER_TEST_POSTGRES
// whose connections use a fresh schema of their own, so tests in parallel
// never see each other's tables. The schema is dropped and the pool closed
// when t ends. Each conf hook may adjust the pool's configuration.
func Postgres(t testing.TB, conf ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	dsn := Env(t, EnvPostgres, "postgres://postgres@127.0.0.1:5432/test")
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	schema := UniqueName("t_")
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	for _, f := range conf {
		f(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		_, err = pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	}
	if err != nil {
		t.Fatalf("%s is set but unusable: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	})
	return pool
}
