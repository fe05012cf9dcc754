package dynamo_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tripsense/tripsense/store/dynamo"
)

// errCrash is what a faultAPI returns in place of a call: the process that
// made the call is considered dead from then on.
var errCrash = errors.New("simulated crash")

type faultMode int

const (
	failBefore faultMode = iota // the call never reaches DynamoDB
	failAfter                   // the call is applied, its answer is lost
	runHook                     // run hook, then make the call normally
)

// faultRule picks one call: the nth (1-based) call of op on table.
type faultRule struct {
	op, table string
	nth       int
	mode      faultMode
	hook      func() // for runHook
}

// faultAPI wraps an API and fails chosen calls, to simulate a process that
// dies between two writes. With rnd set it also fails any call with
// probability p, before or after applying it.
type faultAPI struct {
	dynamo.API
	rules []faultRule

	mu    sync.Mutex
	seen  map[[2]string]int
	rnd   *rand.Rand
	p     float64
	fired int
}

// decide returns what to do with the next call of op on table.
func (f *faultAPI) decide(op, table string) (faultMode, func(), bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = make(map[[2]string]int)
	}
	k := [2]string{op, table}
	f.seen[k]++
	for _, r := range f.rules {
		if r.op == op && r.table == table && r.nth == f.seen[k] {
			f.fired++
			return r.mode, r.hook, true
		}
	}
	if f.rnd != nil && f.rnd.Float64() < f.p {
		f.fired++
		return faultMode(f.rnd.IntN(2)), nil, true
	}
	return 0, nil, false
}

func call[O any](f *faultAPI, op, table string, do func() (O, error)) (O, error) {
	mode, hook, hit := f.decide(op, table)
	var zero O
	if !hit {
		return do()
	}
	switch mode {
	case failBefore:
		return zero, errCrash
	case failAfter:
		if _, err := do(); err != nil {
			return zero, err
		}
		return zero, errCrash
	default:
		hook()
		return do()
	}
}

func (f *faultAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(f, "GetItem", *in.TableName, func() (*dynamodb.GetItemOutput, error) { return f.API.GetItem(ctx, in, o...) })
}

func (f *faultAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return call(f, "PutItem", *in.TableName, func() (*dynamodb.PutItemOutput, error) { return f.API.PutItem(ctx, in, o...) })
}

func (f *faultAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return call(f, "UpdateItem", *in.TableName, func() (*dynamodb.UpdateItemOutput, error) { return f.API.UpdateItem(ctx, in, o...) })
}

func (f *faultAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return call(f, "DeleteItem", *in.TableName, func() (*dynamodb.DeleteItemOutput, error) { return f.API.DeleteItem(ctx, in, o...) })
}

func (f *faultAPI) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return call(f, "Query", *in.TableName, func() (*dynamodb.QueryOutput, error) { return f.API.Query(ctx, in, o...) })
}

func (f *faultAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return call(f, "BatchWriteItem", "", func() (*dynamodb.BatchWriteItemOutput, error) { return f.API.BatchWriteItem(ctx, in, o...) })
}
