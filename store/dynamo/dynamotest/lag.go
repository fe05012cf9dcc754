// Package dynamotest holds test helpers for code that runs on store/dynamo:
// GSILag, a wrapper of the DynamoDB client that gives global secondary
// indexes the replication lag they have in AWS (dynalite updates them
// synchronously, which hides every bug that rests on reading an index).
package dynamotest

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense/store/dynamo"
)

// GSILag makes every Query on a global secondary index answer from the
// table as it was Lag ago: an item written less than Lag ago is not seen
// (or is seen as it was before that write) and an item deleted less than
// Lag ago is still seen. Reads of the base table are not changed. DynamoDB
// documents GSIs as eventually consistent, usually within a second; this
// makes that window as long as a test wants it.
//
// One GSILag stands for one set of tables: wrap the client of every
// simulated process (Lambda instance) with the same GSILag, so that each
// sees the lag of the others' writes. It tracks the tables of TableSpecs
// that have an index. Writes to them through a wrapped client ask DynamoDB
// for the old item (ReturnValues ALL_OLD, removed from the answer again
// when the caller did not ask for it); a BatchWriteItem is split into single
// writes for those tables. Only index queries whose key condition is
// "hash = :value" are supported; others fail with an error saying so.
type GSILag struct {
	lag time.Duration
	now func() time.Time

	specs map[string]dynamo.TableSpec // by full table name, tables with indexes only

	mu     sync.Mutex
	writes map[string]map[string][]write // table -> item key -> writes, oldest first
}

// write is one applied write: when its answer came back and the item as it
// was before (nil when it did not exist).
type write struct {
	at     time.Time
	before map[string]types.AttributeValue
}

// NewGSILag returns a GSILag of lag over tables; now is the clock
// (time.Now when nil).
func NewGSILag(tables dynamo.Tables, lag time.Duration, now func() time.Time) *GSILag {
	if now == nil {
		now = time.Now
	}
	g := &GSILag{lag: lag, now: now, specs: map[string]dynamo.TableSpec{}, writes: map[string]map[string][]write{}}
	for _, s := range dynamo.TableSpecs() {
		if len(s.Indexes) > 0 {
			g.specs[tables.Name(s.Base)] = s
		}
	}
	return g
}

// Wrap returns api with the lag applied to its index queries.
func (g *GSILag) Wrap(api dynamo.API) dynamo.API { return &lagged{API: api, g: g} }

type lagged struct {
	dynamo.API
	g *GSILag
}

func (g *GSILag) tracked(table *string) (dynamo.TableSpec, bool) {
	s, ok := g.specs[aws.ToString(table)]
	return s, ok
}

func itemKey(s dynamo.TableSpec, item map[string]types.AttributeValue) string {
	k := avString(item[s.Hash.Name])
	if s.Range.Name != "" {
		k += "\x00" + avString(item[s.Range.Name])
	}
	return k
}

func avString(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S" + v.Value
	case *types.AttributeValueMemberN:
		return "N" + v.Value
	}
	return fmt.Sprintf("%T", v)
}

// record notes a write of the item with key (in table) whose old image was before.
func (g *GSILag) record(table string, s dynamo.TableSpec, key map[string]types.AttributeValue, before map[string]types.AttributeValue) {
	if len(before) == 0 {
		before = nil
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.writes[table]
	if m == nil {
		m = map[string][]write{}
		g.writes[table] = m
	}
	k := itemKey(s, key)
	m[k] = append(m[k], write{at: now, before: before})
	g.pruneLocked(now)
}

// pruneLocked forgets writes older than the lag: the index shows them.
func (g *GSILag) pruneLocked(now time.Time) {
	horizon := now.Add(-g.lag)
	for _, m := range g.writes {
		for k, ws := range m {
			i := 0
			for i < len(ws) && !ws[i].at.After(horizon) {
				i++
			}
			if i == len(ws) {
				delete(m, k)
			} else if i > 0 {
				m[k] = ws[i:]
			}
		}
	}
}

// visible returns, for every item of table written within the lag, the
// item as the index shows it now (nil: not there).
func (g *GSILag) visible(table string) map[string]map[string]types.AttributeValue {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(now)
	out := map[string]map[string]types.AttributeValue{}
	for k, ws := range g.writes[table] {
		// The earliest write the index has not applied yet: the index
		// shows the item as it was before it.
		out[k] = ws[0].before
	}
	return out
}

func (l *lagged) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s, ok := l.g.tracked(in.TableName)
	if !ok {
		return l.API.PutItem(ctx, in, o...)
	}
	cp := *in
	cp.ReturnValues = types.ReturnValueAllOld
	out, err := l.API.PutItem(ctx, &cp, o...)
	if err != nil {
		return out, err
	}
	l.g.record(*in.TableName, s, in.Item, out.Attributes)
	if in.ReturnValues != types.ReturnValueAllOld {
		out.Attributes = nil
	}
	return out, nil
}

func (l *lagged) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	s, ok := l.g.tracked(in.TableName)
	if !ok {
		return l.API.DeleteItem(ctx, in, o...)
	}
	cp := *in
	cp.ReturnValues = types.ReturnValueAllOld
	out, err := l.API.DeleteItem(ctx, &cp, o...)
	if err != nil {
		return out, err
	}
	if len(out.Attributes) > 0 {
		l.g.record(*in.TableName, s, in.Key, out.Attributes)
	}
	if in.ReturnValues != types.ReturnValueAllOld {
		out.Attributes = nil
	}
	return out, nil
}

func (l *lagged) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s, ok := l.g.tracked(in.TableName)
	if !ok {
		return l.API.UpdateItem(ctx, in, o...)
	}
	switch in.ReturnValues {
	case "", types.ReturnValueNone, types.ReturnValueAllOld:
		cp := *in
		cp.ReturnValues = types.ReturnValueAllOld
		out, err := l.API.UpdateItem(ctx, &cp, o...)
		if err != nil {
			return out, err
		}
		l.g.record(*in.TableName, s, in.Key, out.Attributes)
		if in.ReturnValues != types.ReturnValueAllOld {
			out.Attributes = nil
		}
		return out, nil
	}
	// The caller wants the new image: read the old one first (not atomic
	// with the update, good enough for a test double).
	old, err := l.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key, ConsistentRead: aws.Bool(true)}, o...)
	if err != nil {
		return nil, err
	}
	out, err := l.API.UpdateItem(ctx, in, o...)
	if err == nil {
		l.g.record(*in.TableName, s, in.Key, old.Item)
	}
	return out, err
}

// BatchWriteItem runs the requests for tracked tables one by one (so that
// their old images are known) and passes the rest on as one batch.
func (l *lagged) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	rest := map[string][]types.WriteRequest{}
	for table, reqs := range in.RequestItems {
		if _, ok := l.g.tracked(&table); !ok {
			rest[table] = reqs
			continue
		}
		for _, r := range reqs {
			var err error
			switch {
			case r.PutRequest != nil:
				_, err = l.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: r.PutRequest.Item}, o...)
			case r.DeleteRequest != nil:
				_, err = l.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: r.DeleteRequest.Key}, o...)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if len(rest) == 0 {
		return &dynamodb.BatchWriteItemOutput{}, nil
	}
	cp := *in
	cp.RequestItems = rest
	return l.API.BatchWriteItem(ctx, &cp, o...)
}

var keyCond = regexp.MustCompile(`^\s*(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)\s*$`)

// Query answers an index query from the index as it was Lag ago.
func (l *lagged) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s, ok := l.g.tracked(in.TableName)
	if !ok || in.IndexName == nil {
		return l.API.Query(ctx, in, o...)
	}
	var ix *dynamo.IndexSpec
	for i := range s.Indexes {
		if s.Indexes[i].Name == *in.IndexName {
			ix = &s.Indexes[i]
		}
	}
	if ix == nil {
		return l.API.Query(ctx, in, o...)
	}
	m := keyCond.FindStringSubmatch(aws.ToString(in.KeyConditionExpression))
	if m == nil {
		return nil, fmt.Errorf("dynamotest.GSILag: key condition %q of a query on index %s: only \"hash = :value\" is supported",
			aws.ToString(in.KeyConditionExpression), *in.IndexName)
	}
	attr := m[1]
	if strings.HasPrefix(attr, "#") {
		attr = in.ExpressionAttributeNames[attr]
	}
	want := in.ExpressionAttributeValues[m[2]]
	if attr != ix.Hash.Name || want == nil {
		return nil, fmt.Errorf("dynamotest.GSILag: query on index %s must compare its hash key %s", *in.IndexName, ix.Hash.Name)
	}
	out, err := l.API.Query(ctx, in, o...)
	if err != nil {
		return out, err
	}
	stale := l.g.visible(*in.TableName)
	if len(stale) == 0 {
		return out, nil
	}
	items := make([]map[string]types.AttributeValue, 0, len(out.Items))
	for _, it := range out.Items {
		if _, recent := stale[itemKey(s, it)]; !recent {
			items = append(items, it)
		}
	}
	if len(out.LastEvaluatedKey) == 0 { // last page: add what the index still shows
		for _, before := range stale {
			if before != nil && avString(before[ix.Hash.Name]) == avString(want) {
				items = append(items, project(s, *ix, before))
			}
		}
	}
	slices.SortFunc(items, func(a, b map[string]types.AttributeValue) int {
		return cmp.Or(compareAV(a[ix.Range.Name], b[ix.Range.Name]), strings.Compare(itemKey(s, a), itemKey(s, b)))
	})
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(items)
	}
	cp := *out
	cp.Items = items
	cp.Count = int32(len(items))
	return &cp, nil
}

func compareAV(a, b types.AttributeValue) int {
	an, aok := a.(*types.AttributeValueMemberN)
	bn, bok := b.(*types.AttributeValueMemberN)
	if aok && bok {
		var x, y float64
		fmt.Sscan(an.Value, &x)
		fmt.Sscan(bn.Value, &y)
		return cmp.Compare(x, y)
	}
	return strings.Compare(avString(a), avString(b))
}

// project keeps the attributes the index projects.
func project(s dynamo.TableSpec, ix dynamo.IndexSpec, item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if ix.Projection == string(types.ProjectionTypeAll) {
		return item
	}
	keep := []string{s.Hash.Name, s.Range.Name, ix.Hash.Name, ix.Range.Name}
	if ix.Projection == string(types.ProjectionTypeInclude) {
		keep = append(keep, ix.NonKeyAttributes...)
	}
	out := map[string]types.AttributeValue{}
	for _, k := range keep {
		if v, ok := item[k]; ok && k != "" {
			out[k] = v
		}
	}
	return out
}
