package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Epoch is the store's epoch, as store/bolt has one: an id of 16
// lowercase hex digits that stays the same as long as the data does and
// changes when the data is replaced by a restore. Message indexes, cursors
// and pagination tokens are meaningful only within one epoch: a client
// that sees a new one drops what it holds and syncs from scratch
// (docs/protocol.md).
//
// On DynamoDB every restore (point in time, an on-demand or AWS Backup
// backup, an import from S3) creates a new table, and DynamoDB gives every
// table a new TableId (a UUID) when it is created: the epoch is derived
// from the messages table's TableId (the first 8 bytes of its SHA-256, in
// hex). So it needs no item and no write, every process of one table
// computes the same one, a restored table has a new one by itself (its
// items, copied from the backup, cannot carry the old one along), and a
// table deleted and created again (a new stage of the same name) has a new
// one too. Rewriting the items of the live table in place (a script that
// puts old items back) keeps the TableId and so the epoch: restore into a
// new table instead (docs/deploy.md).
//
// The first call reads the table's description (DescribeTable, one call
// per process, at cold start); later calls answer from memory. A failed
// read is returned and tried again by the next call.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	if s.epoch != "" {
		return s.epoch, nil
	}
	out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.t.Messages)})
	if err != nil {
		return "", fmt.Errorf("dynamo: epoch: describe table %s: %w", s.t.Messages, err)
	}
	if out.Table == nil || aws.ToString(out.Table.TableId) == "" {
		return "", errors.New("dynamo: epoch: table " + s.t.Messages + " has no TableId")
	}
	s.epoch = epochOf(aws.ToString(out.Table.TableId))
	return s.epoch, nil
}

// epochOf is the epoch of the table whose TableId is id.
func epochOf(id string) string {
	sum := sha256.Sum256([]byte("tripsense-epoch\x00" + id))
	return hex.EncodeToString(sum[:8])
}
