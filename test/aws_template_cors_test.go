package test

// Template checks of browser support (issue 15): the HTTP API's CORS and
// the functions' TRIPSENSE_ALLOWED_ORIGINS come from the allowedOrigins
// param, and CORS is off when it is empty.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tripsense/tripsense/api"
)

const corsOrigins = "https://app.example.com,https://admin.example.com"

func TestAWSTemplateCORS(t *testing.T) {
	t.Parallel()
	withOrigins, err := packageTemplate("allowedOrigins=" + corsOrigins)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		tmpl  map[string]any
		value string
	}{
		"default":         {awsTemplate(t), ""},
		"allowedOrigins=": {withOrigins, corsOrigins},
	} {
		// The condition compares the param with "".
		cond, _ := json.Marshal(tc.tmpl["Conditions"].(map[string]any)["HasAllowedOrigins"])
		if want := `{"Fn::Not":[{"Fn::Equals":["` + tc.value + `",""]}]}`; string(cond) != want {
			t.Errorf("%s: HasAllowedOrigins = %s, want %s", name, cond, want)
		}
		for id, fn := range resourcesOfType(tc.tmpl, "AWS::Lambda::Function") {
			env := fn["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
			if got, ok := env["TRIPSENSE_ALLOWED_ORIGINS"]; !ok || got != tc.value {
				t.Errorf("%s: %s has TRIPSENSE_ALLOWED_ORIGINS %v, want %q", name, id, got, tc.value)
			}
		}
		httpAPI := resources(tc.tmpl)["HttpApi"].(map[string]any)["Properties"].(map[string]any)
		ifs, ok := httpAPI["CorsConfiguration"].(map[string]any)["Fn::If"].([]any)
		if !ok || len(ifs) != 3 || ifs[0] != "HasAllowedOrigins" {
			t.Fatalf("%s: CorsConfiguration %v, want Fn::If on HasAllowedOrigins", name, httpAPI["CorsConfiguration"])
		}
		if off, _ := json.Marshal(ifs[2]); string(off) != `{"Ref":"AWS::NoValue"}` {
			t.Errorf("%s: CORS without origins is %s, want AWS::NoValue", name, off)
		}
		on := ifs[1].(map[string]any)
		split, _ := json.Marshal(on["AllowOrigins"])
		if want := `{"Fn::Split":[",","` + tc.value + `"]}`; string(split) != want {
			t.Errorf("%s: AllowOrigins %s, want %s", name, split, want)
		}
		// The gateway answers preflights with what the api function's CORS
		// allows (header names in any case).
		lower := func(vs []string) []string {
			out := make([]string, len(vs))
			for i, v := range vs {
				out[i] = strings.ToLower(v)
			}
			slices.Sort(out)
			return out
		}
		strs := func(v any) []string {
			var out []string
			for _, x := range asList(v) {
				out = append(out, x.(string))
			}
			return out
		}
		for field, want := range map[string][]string{
			"AllowMethods":  api.CORSMethods,
			"AllowHeaders":  api.CORSHeaders,
			"ExposeHeaders": api.CORSExposedHeaders,
		} {
			if got := lower(strs(on[field])); !slices.Equal(got, lower(want)) {
				t.Errorf("%s: %s %v, want %v", name, field, got, lower(want))
			}
		}
		if on["MaxAge"] != float64(api.CORSMaxAge) || on["AllowCredentials"] != false {
			t.Errorf("%s: MaxAge %v AllowCredentials %v", name, on["MaxAge"], on["AllowCredentials"])
		}
	}
}
