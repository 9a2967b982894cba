package schema

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/strowger/strowger/internal/validation"
)

// Messages shared with Kazoo clients, which sometimes match on them.
const (
	msgRequired   = "Field is required but missing"
	msgAdditional = "Strict checking of data is enabled; only include schema-defined properties"
)

// addErrors translates a validation failure of the jsonschema library into
// Kazoo's field → rule → detail shape.
func addErrors(errs validation.Errors, err error) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		errs.Add("schema", "schema", "Validation could not run: "+err.Error())
		return
	}
	collect(errs, ve)
}

// collect walks the error tree: inner nodes (schema, $ref, allOf, groups)
// only carry causes; leaves name the failed keyword.
func collect(errs validation.Errors, ve *jsonschema.ValidationError) {
	switch k := ve.ErrorKind.(type) {
	case *kind.AnyOf:
		alternatives(errs, ve)
		return
	case *kind.OneOf:
		if len(k.Subschemas) == 0 && len(ve.Causes) > 0 {
			alternatives(errs, ve)
			return
		}
	}
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(errs, c)
		}
		return
	}
	leaf(errs, ve)
}

// alternatives reports an anyOf/oneOf that no branch satisfied. When every
// branch only asks for a missing field (user_auth's "one of account_name,
// account_realm or phone_number"), one `required` error names them all, on
// the first branch's field. Otherwise the branch with the fewest errors is
// taken as the one the client meant (a branch whose type does not even
// match the value counts as farthest), and its errors are reported.
func alternatives(errs validation.Errors, ve *jsonschema.ValidationError) {
	at := validation.Join(ve.InstanceLocation...)
	var (
		best      validation.Errors
		bestScore int
		missing   []string
		allMiss   = true
	)
	for _, c := range ve.Causes {
		b := validation.Errors{}
		collect(b, c)
		score := count(b)
		if b.Has(at, "type") {
			score += 1 << 20
		}
		if best == nil || score < bestScore {
			best, bestScore = b, score
		}
		for _, f := range b.Fields() {
			for rule := range b[f] {
				if rule != "required" {
					allMiss = false
				}
			}
			missing = append(missing, f)
		}
	}
	if best == nil {
		errs.Add(at, "not_one_schema_valid", "Value did not match any of the allowed forms")
		return
	}
	if allMiss && len(missing) > 0 {
		names := make([]string, len(missing))
		for i, f := range missing {
			names[i] = f[strings.LastIndexByte(f, '.')+1:]
		}
		errs.Add(missing[0], "required", "One of "+orList(names)+" is required but all are missing")
		return
	}
	errs.Merge("", best)
}

// count is the number of failed rules in e.
func count(e validation.Errors) int {
	n := 0
	for _, rules := range e {
		n += len(rules)
	}
	return n
}

// orList renders ["a","b","c"] as "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// leaf maps one failed keyword to its Kazoo rule and message.
func leaf(errs validation.Errors, ve *jsonschema.ValidationError) {
	at := validation.Join(ve.InstanceLocation...)
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			errs.Add(validation.Join(at, m), "required", msgRequired)
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			errs.Add(validation.Join(at, m), "required", fmt.Sprintf("Field is required when %s is present", k.Prop))
		}
	case *kind.Dependency:
		for _, m := range k.Missing {
			errs.Add(validation.Join(at, m), "required", fmt.Sprintf("Field is required when %s is present", k.Prop))
		}
	case *kind.Type:
		want := strings.Join(k.Want, ", ")
		errs.Add(at, "type", "Value did not match type(s): "+want, "target", want)
	case *kind.InvalidJsonValue:
		errs.Add(at, "type", "Value is not a JSON value")
	case *kind.MinLength:
		errs.Add(at, "minLength", fmt.Sprintf("String must be at least %d %s", k.Want, plural(k.Want, "character")), "target", k.Want)
	case *kind.MaxLength:
		errs.Add(at, "maxLength", fmt.Sprintf("String must not be more than %d %s", k.Want, plural(k.Want, "character")), "target", k.Want)
	case *kind.Minimum:
		errs.Add(at, "minimum", "Value must be at least "+ratString(k.Want), "target", ratValue(k.Want))
	case *kind.Maximum:
		errs.Add(at, "maximum", "Value must be at most "+ratString(k.Want), "target", ratValue(k.Want))
	case *kind.ExclusiveMinimum:
		errs.Add(at, "minimum", "Value must be greater than "+ratString(k.Want), "target", ratValue(k.Want))
	case *kind.ExclusiveMaximum:
		errs.Add(at, "maximum", "Value must be less than "+ratString(k.Want), "target", ratValue(k.Want))
	case *kind.MultipleOf:
		errs.Add(at, "divisibleBy", "Value must be divisible by "+ratString(k.Want), "target", ratValue(k.Want))
	case *kind.MinItems:
		errs.Add(at, "minItems", fmt.Sprintf("The list must have at least %d %s", k.Want, plural(k.Want, "item")), "target", k.Want)
	case *kind.MaxItems:
		errs.Add(at, "maxItems", fmt.Sprintf("The list must have at most %d %s", k.Want, plural(k.Want, "item")), "target", k.Want)
	case *kind.UniqueItems:
		errs.Add(at, "uniqueItems", fmt.Sprintf("List of items is not unique: items %d and %d are equal", k.Duplicates[0], k.Duplicates[1]))
	case *kind.MinProperties:
		errs.Add(at, "minProperties", fmt.Sprintf("The object must have at least %d %s", k.Want, plural(k.Want, "key")), "target", k.Want)
	case *kind.MaxProperties:
		errs.Add(at, "maxProperties", fmt.Sprintf("The object must have at most %d %s", k.Want, plural(k.Want, "key")), "target", k.Want)
	case *kind.Pattern:
		errs.Add(at, "pattern", fmt.Sprintf("Failed to match pattern '%s'", k.Want), "target", k.Want)
	case *kind.Enum:
		errs.Add(at, "enum", "Value not found in enumerated list of values: "+enumList(k.Want), "target", k.Want)
	case *kind.Const:
		errs.Add(at, "enum", "Value must be "+display(k.Want), "target", []any{k.Want})
	case *kind.Format:
		msg := "Value is not a valid " + k.Want
		if k.Err != nil {
			msg += ": " + k.Err.Error()
		}
		errs.Add(at, "format", msg, "target", k.Want)
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			errs.Add(validation.Join(at, p), "additionalProperties", msgAdditional)
		}
	case *kind.AdditionalItems:
		errs.Add(at, "additionalItems", fmt.Sprintf("The list has %d more items than allowed", k.Count))
	case *kind.PropertyNames:
		errs.Add(validation.Join(at, k.Property), "patternProperties", "Key is not allowed here")
	case *kind.FalseSchema:
		errs.Add(at, "additionalProperties", "Field is not allowed")
	case *kind.Contains, *kind.MinContains, *kind.MaxContains:
		errs.Add(at, "contains", "The list does not contain the required items")
	case *kind.Not:
		errs.Add(at, "invalid", "Value matches a form that is not allowed")
	case *kind.OneOf:
		errs.Add(at, "not_one_schema_valid", "Value matched more than one of the allowed forms")
	default:
		rule := "invalid"
		if kw := ve.ErrorKind.KeywordPath(); len(kw) > 0 {
			rule = kw[len(kw)-1]
		}
		errs.Add(at, rule, "Value failed validation")
	}
}

// plural returns word with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// ratString renders a schema limit: integers without a fraction, others as
// short decimals.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.RatString()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ratValue renders a schema limit as a JSON number for the detail's target.
func ratValue(r *big.Rat) any {
	if r.IsInt() && r.Num().IsInt64() {
		return r.Num().Int64()
	}
	f, _ := r.Float64()
	return f
}

// enumList renders the allowed values: strings bare, others as JSON.
func enumList(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = display(v)
	}
	return strings.Join(parts, ", ")
}

// display renders one value of a schema for a message.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	default:
		return fmt.Sprint(x)
	}
}
