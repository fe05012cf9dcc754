package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/tripsense/tripsense/auth"
)

// ParameterReader is the one SSM call of the cold start; *ssm.Client
// implements it, tests pass a fake.
type ParameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretTimeout bounds the SSM read of the token secret, retries included:
// Lambda gives the whole init phase 10 s.
const SecretTimeout = 5 * time.Second

// ReadTokenSecret reads the token secret from the SSM parameter name: one
// GetParameter with WithDecryption, bounded by SecretTimeout. The parameter
// must be a SecureString (a String is refused: its value is stored and
// shown unencrypted), and its value must pass auth.CheckSecret (at least 32
// bytes, and not an unresolved reference). Errors name the parameter and
// never contain its value.
func ReadTokenSecret(ctx context.Context, r ParameterReader, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, SecretTimeout)
	defer cancel()
	out, err := r.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var notFound *types.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
		return "", fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM: SSM parameter %s does not exist; create it as a SecureString (docs/deploy.md)", name)
	case err != nil:
		return "", fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM: read SSM parameter %s: %w", name, err)
	case out == nil || out.Parameter == nil || out.Parameter.Value == nil:
		return "", fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM: SSM parameter %s came back without a value", name)
	}
	p := out.Parameter
	if p.Type != types.ParameterTypeSecureString {
		return "", fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM: SSM parameter %s is of type %q; store the token secret as a SecureString", name, p.Type)
	}
	if err := auth.CheckSecret(*p.Value); err != nil {
		return "", fmt.Errorf("TRIPSENSE_TOKEN_SECRET_PARAM: SSM parameter %s: %w", name, err)
	}
	return *p.Value, nil
}

// newSSM returns the SSM client of the shared SDK configuration, pointed at
// endpoint when set (tests).
func newSSM(cfg aws.Config, endpoint string) *ssm.Client {
	return ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}
