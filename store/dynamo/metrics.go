package dynamo

import (
	"context"
	"maps"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// OpStats is what CallCounter counted for one DynamoDB operation.
type OpStats struct {
	Calls         int     // operation calls (SDK retries of one call count once)
	Errors        int     // calls that returned an error (a failed condition is one)
	CapacityUnits float64 // consumed capacity the service reported (TOTAL)
}

// CallCounter is an SDK middleware that counts DynamoDB calls and the
// capacity units they consumed, per operation. It asks for the consumption
// by setting ReturnConsumedCapacity=TOTAL on each request (on a copy: the
// caller's input is not modified). Install it on a client with
//
//	dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
//		o.APIOptions = append(o.APIOptions, counter.AddToStack)
//	})
//
// Calls whose condition fails consume write capacity in AWS but report none
// (the error carries no ConsumedCapacity), so CapacityUnits is a lower
// bound when Errors is not zero. The zero value is ready to use and it is
// safe for concurrent use.
type CallCounter struct {
	mu  sync.Mutex
	ops map[string]OpStats
}

// AddToStack adds the counter to an operation's middleware stack; it has
// the signature of dynamodb.Options.APIOptions entries.
func (c *CallCounter) AddToStack(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("tripsense.CallCounter", c.handle), middleware.Before)
}

func (c *CallCounter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	in.Parameters = withConsumedCapacity(in.Parameters)
	out, md, err := next.HandleInitialize(ctx, in)
	op := awsmiddleware.GetOperationName(ctx)
	var units float64
	if err == nil {
		units = consumedUnits(out.Result)
	}
	c.mu.Lock()
	if c.ops == nil {
		c.ops = make(map[string]OpStats)
	}
	s := c.ops[op]
	s.Calls++
	if err != nil {
		s.Errors++
	}
	s.CapacityUnits += units
	c.ops[op] = s
	c.mu.Unlock()
	return out, md, err
}

// Snapshot returns the counts so far, by operation name ("PutItem", ...).
func (c *CallCounter) Snapshot() map[string]OpStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

// Reset forgets every count.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	c.ops = nil
	c.mu.Unlock()
}

const total = types.ReturnConsumedCapacityTotal

func withConsumedCapacity(params any) any {
	switch v := params.(type) {
	case *dynamodb.GetItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.PutItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.UpdateItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.DeleteItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.QueryInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.BatchWriteItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	case *dynamodb.BatchGetItemInput:
		cp := *v
		cp.ReturnConsumedCapacity = total
		return &cp
	}
	return params
}

func consumedUnits(result any) float64 {
	one := func(cc *types.ConsumedCapacity) float64 {
		if cc == nil || cc.CapacityUnits == nil {
			return 0
		}
		return *cc.CapacityUnits
	}
	many := func(ccs []types.ConsumedCapacity) (sum float64) {
		for i := range ccs {
			sum += one(&ccs[i])
		}
		return sum
	}
	switch v := result.(type) {
	case *dynamodb.GetItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		return one(v.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		return many(v.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		return many(v.ConsumedCapacity)
	}
	return 0
}
