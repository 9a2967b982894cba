package schema

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/strowger/strowger/internal/validation"
)

// normalize returns a copy of v in the value set the validator handles
// safely: maps, slices, strings, bools, nil and finite float64. json.Number
// is converted to float64 (a huge exponent would otherwise make the
// validator allocate without bound, or fail outright); magnitudes beyond
// float64 are clamped to ±MaxFloat64 so that limits still apply. Go integer
// types are accepted too. Anything else (NaN, Inf, channels, structs, typed
// slices) is reported as a type error at its path and replaced by nil.
func normalize(v any, at []string, errs validation.Errors) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, append(at, k), errs)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, append(at, strconv.Itoa(i)), errs)
		}
		return out
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return notJSON(at, errs, "Value is not a finite number")
		}
		return x
	case float32:
		return normalize(float64(x), at, errs)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return notJSON(at, errs, "Value is not a valid number")
		}
		switch {
		case math.IsInf(f, 1):
			f = math.MaxFloat64
		case math.IsInf(f, -1):
			f = -math.MaxFloat64
		}
		return f
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	default:
		return notJSON(at, errs, "Value is not a JSON value")
	}
}

// notJSON records a type error for a value the validator cannot handle.
func notJSON(at []string, errs validation.Errors, msg string) any {
	errs.Add(validation.Join(at...), "type", msg)
	return nil
}
