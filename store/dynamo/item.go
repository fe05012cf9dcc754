package dynamo

import (
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Small helpers to build and read attribute values by hand: the items are
// few and flat, and explicit code keeps the stored shape obvious.

func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func avN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func avNS(ns []int64) types.AttributeValue {
	v := make([]string, len(ns))
	for i, n := range ns {
		v[i] = strconv.FormatInt(n, 10)
	}
	return &types.AttributeValueMemberNS{Value: v}
}

// getNS returns a number set, ascending (nil when absent).
func getNS(item map[string]types.AttributeValue, name string) []int64 {
	v, ok := item[name].(*types.AttributeValueMemberNS)
	if !ok {
		return nil
	}
	out := make([]int64, 0, len(v.Value))
	for _, s := range v.Value {
		out = append(out, parseN(s))
	}
	slices.Sort(out)
	return out
}

func avTime(t time.Time) types.AttributeValue { return avS(formatTime(t)) }

// timeLayout stores timestamps as RFC 3339 UTC with milliseconds, the wire
// format, so stored and served times agree.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return parseN(v.Value)
	}
	return 0
}

func parseN(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func getTime(item map[string]types.AttributeValue, name string) time.Time {
	s := getS(item, name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// names builds ExpressionAttributeNames: names("#r", "room", "#i", "index").
func names(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
