package validation

import "testing"

func TestErrors(t *testing.T) {
	e := Errors{}
	if !e.Empty() {
		t.Fatal("new Errors not empty")
	}
	e.Add("name", "required", "Field is required but missing")
	e.Add("name", "required", "second detail is ignored")
	inner := Errors{}
	inner.Add("id", "type", "wrong type", "target", "string")
	e.Merge("flow.data", inner)
	if !e.Has("name", "required") || !e.Has("flow.data.id", "type") {
		t.Fatalf("got %v", e)
	}
	if e["name"]["required"]["message"] != "Field is required but missing" {
		t.Fatal("first detail not kept")
	}
	if e["flow.data.id"]["type"]["target"] != "string" {
		t.Fatal("extra not kept")
	}
	if got := e.Error(); got != "validation error: flow.data.id(type) name(required)" {
		t.Fatalf("Error() = %q", got)
	}
}
