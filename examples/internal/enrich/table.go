package enrich

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CreateTable creates the prospects table if it is missing, with the status
// column the sourcestatus package writes, and adds the prospects that are
// not there yet.
func CreateTable(ctx context.Context, pool *pgxpool.Pool, table string, prospects ...Prospect) error {
	t := pgx.Identifier{table}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (id uuid PRIMARY KEY, name text NOT NULL, enrichment_source_status jsonb)`); err != nil {
		return fmt.Errorf("create %s: %w", table, err)
	}
	batch := &pgx.Batch{}
	for _, p := range prospects {
		batch.Queue(`INSERT INTO `+t+` (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, p.ID, p.Name)
	}
	return pool.SendBatch(ctx, batch).Close()
}
