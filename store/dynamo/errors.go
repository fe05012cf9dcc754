package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tripsense/tripsense"
)

// isConditionFailed reports whether err is DynamoDB's answer to a
// conditional write whose condition was false.
func isConditionFailed(err error) bool {
	var e *types.ConditionalCheckFailedException
	return errors.As(err, &e)
}

// mapErr turns an SDK error into the application's error kinds at the
// store boundary: a lost conditional write is ECONFLICT, throttling that
// outlived the SDK's retries is ERATELIMITED, context errors stay context
// errors (errors.Is still sees them), anything else is EINTERNAL. The SDK
// error stays in the chain for logging.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	cause := fmt.Errorf("dynamo: %s: %w", op, err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cause
	}
	var (
		ccf       *types.ConditionalCheckFailedException
		provThrot *types.ProvisionedThroughputExceededException
		reqLimit  *types.RequestLimitExceeded
		throttled *types.ThrottlingException
		te        *tripsense.Error
	)
	switch {
	case errors.As(err, &te):
		return err
	case errors.As(err, &ccf):
		return tripsense.Wrap(tripsense.ECONFLICT, cause, "a concurrent update won; retry")
	case errors.As(err, &provThrot), errors.As(err, &reqLimit), errors.As(err, &throttled):
		return tripsense.Wrap(tripsense.ERATELIMITED, cause, "storage is busy; retry later")
	}
	return tripsense.Wrap(tripsense.EINTERNAL, cause, "storage error")
}
