package auth

import (
	"fmt"
	"regexp"
	"strings"
)

// unresolved matches the references a deployment tool leaves in a value it
// did not resolve: CloudFormation dynamic references ({{resolve:ssm:...}},
// {{resolve:secretsmanager:...}}) and Serverless Framework or shell
// variables (${ssm:...}, ${param:...}, ${env:...}, ${self:...}, ${VAR}).
// Such a string is public (it is in the repository or the template), so a
// secret that contains one is no secret.
var unresolved = regexp.MustCompile(`\{\{resolve:|\$\{[^}]*\}`)

// CheckSecret returns why secret cannot be a token secret: shorter than
// MinSecretLen bytes, or something that looks like an unresolved reference
// to a secret rather than the secret itself (a CloudFormation dynamic
// reference, a ${...} variable, an SSM or Secrets Manager ARN). The error
// never contains the secret.
func CheckSecret(secret string) error {
	if m := unresolved.FindString(secret); m != "" {
		return fmt.Errorf("token secret looks like an unresolved reference (%q...): the tool that should have replaced it with the secret did not; refusing it, since the reference itself is public", m)
	}
	for _, p := range []string{":ssm:", ":secretsmanager:"} {
		if strings.HasPrefix(secret, "arn:") && strings.Contains(secret, p) {
			return fmt.Errorf("token secret is an ARN (%s...), not the secret it names", p)
		}
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("token secret must be at least %d bytes", MinSecretLen)
	}
	return nil
}
