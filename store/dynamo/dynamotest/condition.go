package dynamotest

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense/store/dynamo"
)

// ConditionItems makes an endpoint that ignores
// ReturnValuesOnConditionCheckFailure (dynalite) answer it as DynamoDB
// does: when an UpdateItem that asks for ALL_OLD fails its condition, the
// ConditionalCheckFailedException carries the item. The item is read with
// a strongly consistent GetItem through Peek (not atomic with the failed
// write, which is good enough for a test double); give Peek a client
// without call counting, so that counted calls are those AWS would see.
type ConditionItems struct {
	dynamo.API
	Peek dynamo.API
}

// UpdateItem implements dynamo.API.
func (c ConditionItems) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.API.UpdateItem(ctx, in, o...)
	var cf *types.ConditionalCheckFailedException
	if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld || !errors.As(err, &cf) || len(cf.Item) > 0 {
		return out, err
	}
	got, gerr := c.Peek.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key, ConsistentRead: aws.Bool(true)})
	if gerr != nil {
		return out, errors.Join(err, gerr)
	}
	cf.Item = got.Item
	return out, err
}
