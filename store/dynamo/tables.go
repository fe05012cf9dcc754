package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Base (logical) table names. The deployed names are a stage prefix plus
// these (see TablesWithPrefix); the first four keep the seed's names.
const (
	BaseMessages        = "messages"
	BaseDedupe          = "messageDedupe"
	BaseUserRoom        = "userRoom"
	BaseReadCursors     = "readCursors"
	BaseConnections     = "connections"
	BaseRoomConnections = "roomConnections"
	BaseUserConnections = "userConnections"
	BaseWatermarks      = "watermarks"
	BaseReadReceipts    = "readReceipts"
)

// Secondary index names. The only one is for listing (Members); no
// decision of membership, duplicate policy or fan-out reads an index, since
// DynamoDB reads indexes only eventually consistently.
const (
	IndexUserRoomByRoom = "byRoom" // userRoom: room + userId, keys only
	IndexReceiptsByRoom = "byRoom" // readReceipts: room + userId, with lastRead and updatedAt
)

// Attribute names. Expressions always refer to them through
// ExpressionAttributeNames ("index" is a DynamoDB reserved word).
const (
	attrRoom        = "room"
	attrIndex       = "index"
	attrUserID      = "userId"
	attrBody        = "chatMessage"
	attrType        = "messageType"
	attrCreateTime  = "createTime"
	attrClientMsgID = "clientMsgId"
	attrSender      = "sender"
	attrExpiresAt   = "expiresAt"
	attrClaimedAt   = "claimedAt"
	attrJoinedAt    = "joinedAt"
	attrLastSeen    = "lastSeen"
	attrLastRead    = "lastRead"
	attrUpdatedAt   = "updatedAt"
	attrConnID      = "connectionId"
	attrConnectedAt = "connectedAt"
	attrConns       = "conns"   // userConnections: connectionId -> {connectedAt, expiresAt}
	attrVersion     = "version" // userConnections: bumped by every admission
	attrLevel       = "level"   // watermarks: the watermark
	attrBase        = "base"    // watermarks: the level it started at
	attrPending     = "pending" // watermarks: out-of-order deliveries above level+1 (NS)
	attrWMVersion   = "v"       // watermarks: bumped by every read-modify-write

	// connections, userConnections entries and readCursors items of a
	// named device; absent for the default device.
	attrDeviceID = "deviceId"

	// messages: the lifecycle of entries (lifecycle.go)
	attrKind      = "kind"      // "" for a message, edit, delete, reaction
	attrTarget    = "target"    // events: the message's index
	attrReplyTo   = "replyTo"   // messages: the index replied to
	attrReaction  = "reaction"  // reaction events
	attrRemove    = "remove"    // reaction events (BOOL)
	attrEditedAt  = "editedAt"  // messages: the latest edit's time
	attrDeleted   = "deleted"   // messages and edits whose body was removed (BOOL)
	attrDeletedBy = "deletedBy" // messages: who deleted it
	attrDeletedAt = "deletedAt" // messages: when
	attrReactions = "reactions" // messages: list of {u, r}
	attrEdits     = "edits"     // messages: indexes of applied edits (NS)
	attrEntryVer  = "ver"       // messages: bumped by every applied event
	attrLock      = "lk"        // messages: the event holding the message (lifecycle.go lockTarget)
	attrLockUntil = "lkx"       // messages: when that hold lapses (unix ms)
)

// KeyAttr is a key attribute: its name and its DynamoDB scalar type ("S" or "N").
type KeyAttr struct {
	Name string
	Type string
}

// IndexSpec is a global secondary index.
type IndexSpec struct {
	Name             string
	Hash             KeyAttr
	Range            KeyAttr  // Name is "" when the index has no sort key
	Projection       string   // "KEYS_ONLY", "INCLUDE" or "ALL"
	NonKeyAttributes []string // for "INCLUDE"
}

// TableSpec is the definition of one table: keys, global secondary
// indexes and the TTL attribute. It is the single source of truth for the
// schema: CreateTables builds tables from it and serverless.yml mirrors it
// (every table on PAY_PER_REQUEST billing with point-in-time recovery, and
// TTL enabled on TTLAttribute when it is set).
type TableSpec struct {
	Base         string // logical name; the deployed name is prefix + Base
	Hash         KeyAttr
	Range        KeyAttr // Name is "" when the table has no sort key
	Indexes      []IndexSpec
	TTLAttribute string // epoch seconds; "" when the table has no TTL
}

// TableSpecs returns the definitions of every table the package uses.
func TableSpecs() []TableSpec {
	s, n := "S", "N"
	return []TableSpec{
		{
			Base:  BaseMessages,
			Hash:  KeyAttr{attrRoom, s},
			Range: KeyAttr{attrIndex, n},
		},
		{
			Base:         BaseDedupe,
			Hash:         KeyAttr{attrRoom, s},
			Range:        KeyAttr{attrSender, s},
			TTLAttribute: attrExpiresAt,
		},
		{
			Base:  BaseUserRoom,
			Hash:  KeyAttr{attrUserID, s},
			Range: KeyAttr{attrRoom, s},
			Indexes: []IndexSpec{{
				Name: IndexUserRoomByRoom, Hash: KeyAttr{attrRoom, s}, Range: KeyAttr{attrUserID, s},
				Projection: string(types.ProjectionTypeKeysOnly),
			}},
		},
		{
			Base:  BaseReadCursors,
			Hash:  KeyAttr{attrUserID, s},
			Range: KeyAttr{attrRoom, s},
		},
		{
			Base:  BaseReadReceipts,
			Hash:  KeyAttr{attrUserID, s},
			Range: KeyAttr{attrRoom, s},
			Indexes: []IndexSpec{{
				Name: IndexReceiptsByRoom, Hash: KeyAttr{attrRoom, s}, Range: KeyAttr{attrUserID, s},
				Projection:       string(types.ProjectionTypeInclude),
				NonKeyAttributes: []string{attrLastRead, attrUpdatedAt},
			}},
		},
		{
			Base:         BaseConnections,
			Hash:         KeyAttr{attrConnID, s},
			TTLAttribute: attrExpiresAt,
		},
		{
			Base:         BaseRoomConnections,
			Hash:         KeyAttr{attrRoom, s},
			Range:        KeyAttr{attrConnID, s},
			TTLAttribute: attrExpiresAt,
		},
		{
			Base:         BaseUserConnections,
			Hash:         KeyAttr{attrUserID, s},
			TTLAttribute: attrExpiresAt,
		},
		{
			Base:         BaseWatermarks,
			Hash:         KeyAttr{attrConnID, s},
			Range:        KeyAttr{attrRoom, s},
			TTLAttribute: attrExpiresAt,
		},
	}
}

// CreateTableInput returns the CreateTable request for s under the given
// full table name, on PAY_PER_REQUEST billing. (TTL and point-in-time
// recovery are separate calls; serverless.yml declares both.)
func (s TableSpec) CreateTableInput(name string) *dynamodb.CreateTableInput {
	defs := map[string]types.ScalarAttributeType{}
	var order []string
	def := func(k KeyAttr) {
		if k.Name == "" {
			return
		}
		if _, ok := defs[k.Name]; !ok {
			order = append(order, k.Name)
		}
		defs[k.Name] = types.ScalarAttributeType(k.Type)
	}
	def(s.Hash)
	def(s.Range)
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(s.Hash, s.Range),
	}
	for _, ix := range s.Indexes {
		def(ix.Hash)
		def(ix.Range)
		p := &types.Projection{ProjectionType: types.ProjectionType(ix.Projection)}
		if len(ix.NonKeyAttributes) > 0 {
			p.NonKeyAttributes = append([]string(nil), ix.NonKeyAttributes...)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: keySchema(ix.Hash, ix.Range), Projection: p,
		})
	}
	for _, n := range order {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(n), AttributeType: defs[n],
		})
	}
	return in
}

func keySchema(hash, rng KeyAttr) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash.Name), KeyType: types.KeyTypeHash}}
	if rng.Name != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng.Name), KeyType: types.KeyTypeRange})
	}
	return ks
}

// CreateTables creates every table of TableSpecs under the names in tables
// and waits until all are ACTIVE. Tables that already exist are left as
// they are. It is for tests and local emulators; in AWS the tables come
// from serverless.yml.
func CreateTables(ctx context.Context, client AdminAPI, tables Tables) error {
	if err := tables.Validate(); err != nil {
		return err
	}
	specs := TableSpecs()
	for _, s := range specs {
		_, err := client.CreateTable(ctx, s.CreateTableInput(tables.Name(s.Base)))
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("dynamo: create table %s: %w", tables.Name(s.Base), err)
		}
	}
	for _, s := range specs {
		if err := waitActive(ctx, client, tables.Name(s.Base)); err != nil {
			return err
		}
	}
	return nil
}

// waitActive polls DescribeTable until the table is ACTIVE or ctx ends.
func waitActive(ctx context.Context, client AdminAPI, name string) error {
	delay := 5 * time.Millisecond
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("dynamo: describe table %s: %w", name, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamo: waiting for table %s: %w", name, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}
