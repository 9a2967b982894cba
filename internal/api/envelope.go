package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/strowger/strowger/internal/validation"
)

// apiError is an error answer in Kazoo's shape: "error" is the HTTP code as a
// string, "message" Kazoo's text, "data" the details.
type apiError struct {
	code    int
	message string
	data    any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.code, e.message) }

// The error catalogue, with Kazoo's messages.
func errInvalidCredentials() *apiError {
	return &apiError{code: http.StatusUnauthorized, message: "invalid credentials"}
}
func errForbidden() *apiError { return &apiError{code: http.StatusForbidden, message: "forbidden"} }
func errBadIdentifier(id string) *apiError {
	return &apiError{code: http.StatusNotFound, message: "bad identifier", data: map[string]any{"cause": id, "message": "bad identifier"}}
}
func errNotFound() *apiError {
	return &apiError{code: http.StatusNotFound, message: "not found", data: map[string]any{"message": "not found"}}
}
func errMethod() *apiError {
	return &apiError{code: http.StatusMethodNotAllowed, message: "method not allowed"}
}
func errConflict() *apiError {
	return &apiError{code: http.StatusConflict, message: "conflicting documents",
		data: map[string]any{"message": "the document's revision is stale: read it again and retry"}}
}
func errParse(detail string) *apiError {
	return &apiError{code: http.StatusBadRequest, message: "failed to parse request body", data: map[string]any{"message": detail}}
}
func errTooLarge(limit int64) *apiError {
	return &apiError{code: http.StatusRequestEntityTooLarge, message: "request entity too large",
		data: map[string]any{"message": fmt.Sprintf("the request body exceeds %d bytes", limit)}}
}
func errValidation(v validation.Errors) *apiError {
	return &apiError{code: http.StatusBadRequest, message: "validation error", data: v}
}
func errTooMany() *apiError {
	return &apiError{code: http.StatusTooManyRequests, message: "too many requests"}
}
func errInternal() *apiError {
	return &apiError{code: http.StatusInternalServerError, message: "unspecified fault"}
}
func errUnavailable() *apiError {
	return &apiError{code: http.StatusServiceUnavailable, message: "datastore timeout"}
}

// fieldError is a validation error on one field.
func fieldError(field, rule, msg string, extra ...any) *apiError {
	v := validation.Errors{}
	v.Add(field, rule, msg, extra...)
	return errValidation(v)
}

// request carries one API call through its handler.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	srv     *Server
	id      string
	token   string
	p       *principal
	account string // the {account} of the path, when present
	start   time.Time
	// The body, once read (readBody).
	body     []byte
	bodyErr  error
	bodyRead bool
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// envelope is Kazoo's response envelope.
type envelope struct {
	Data         any    `json:"data"`
	Status       string `json:"status"`
	AuthToken    string `json:"auth_token"`
	RequestID    string `json:"request_id"`
	Revision     string `json:"revision,omitempty"`
	Timestamp    string `json:"timestamp"`
	Version      string `json:"version,omitempty"`
	Node         string `json:"node,omitempty"`
	PageSize     *int   `json:"page_size,omitempty"`
	StartKey     string `json:"start_key,omitempty"`
	NextStartKey string `json:"next_start_key,omitempty"`
	Error        string `json:"error,omitempty"`
	Message      string `json:"message,omitempty"`
}

func (rq *request) base() envelope {
	e := envelope{
		Status:    "success",
		AuthToken: rq.token,
		RequestID: rq.id,
		Timestamp: rq.srv.clock.Now().UTC().Format(time.RFC3339),
		Node:      rq.srv.cfg.NodeName,
	}
	if rq.p != nil {
		e.Version = rq.srv.cfg.Version
	}
	return e
}

// reply writes a success envelope. rev, when not zero, becomes the
// envelope's revision and the ETag header.
func (rq *request) reply(code int, data any, rev uint64) {
	e := rq.base()
	e.Data = data
	if rev != 0 {
		e.Revision = strconv.FormatUint(rev, 10)
		rq.w.Header().Set("ETag", `"`+e.Revision+`"`)
	}
	rq.write(code, e)
}

// replyPage writes a listing with its pagination keys.
func (rq *request) replyPage(data any, pageSize int, startKey, next string) {
	e := rq.base()
	e.Data = data
	e.PageSize = &pageSize
	e.StartKey = startKey
	e.NextStartKey = next
	rq.write(http.StatusOK, e)
}

// fail writes an error envelope; any error that is not an *apiError is
// logged and answered 500 without detail.
func (rq *request) fail(err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) && rq.r.Context().Err() != nil {
			return // the client went away: nobody to answer
		}
		rq.srv.log.Error("request failed", "request_id", rq.id, "method", rq.r.Method, "path", rq.r.URL.Path, "err", err)
		ae = errInternal()
	}
	e := rq.base()
	e.Status = "error"
	e.Error = strconv.Itoa(ae.code)
	e.Message = ae.message
	e.Data = ae.data
	if e.Data == nil {
		e.Data = map[string]any{"message": ae.message}
	}
	rq.write(ae.code, e)
}

func (rq *request) write(code int, e envelope) {
	h := rq.w.Header()
	// Kazoo's web UI reads error bodies only for exactly this type.
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-ID", rq.id)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if rq.r.Header.Get("X-Pretty-Print") == "true" || rq.r.URL.Query().Get("pretty_print") == "true" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(e); err != nil {
		rq.srv.log.Error("encoding response", "request_id", rq.id, "err", err)
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"status":"error","error":"500","message":"unspecified fault"}`)
	}
	rq.w.WriteHeader(code)
	_, _ = rq.w.Write(buf.Bytes())
}

// requestBody is Kazoo's request envelope.
type requestBody struct {
	Data      json.RawMessage `json:"data"`
	AuthToken string          `json:"auth_token"`
	Verb      string          `json:"verb"`
	Action    string          `json:"action"`
}

// readBody reads the request body within the size limit. The body is read
// once: a second call (authentication looked for the envelope's
// auth_token first) returns the same bytes or error.
func (rq *request) readBody(limit int64) ([]byte, error) {
	if rq.bodyRead {
		return rq.body, rq.bodyErr
	}
	rq.bodyRead = true
	rq.body, rq.bodyErr = rq.readBodyOnce(limit)
	return rq.body, rq.bodyErr
}

func (rq *request) readBodyOnce(limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge(limit)
	}
	if err != nil {
		return nil, errParse("the request body could not be read")
	}
	return body, nil
}

// decodeEnvelope parses {"data": {...}} and returns data as an object.
// The caller gets a parse error for invalid JSON and a validation error
// naming "data" when it is missing or not an object.
func (rq *request) decodeEnvelope() (map[string]any, *requestBody, error) {
	body, err := rq.readBody(rq.srv.cfg.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	return decodeEnvelopeBytes(body)
}

func decodeEnvelopeBytes(body []byte) (map[string]any, *requestBody, error) {
	var env requestBody
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, errParse("the request body is empty")
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, nil, errParse("the request body is not valid JSON: " + jsonErrorText(err))
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, &env, fieldError("data", "required", "Field is required but missing")
	}
	d := json.NewDecoder(bytes.NewReader(env.Data))
	d.UseNumber()
	var data map[string]any
	if err := d.Decode(&data); err != nil {
		return nil, &env, fieldError("data", "type", "Value must be an object", "target", "object")
	}
	return data, &env, nil
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s", strings.TrimPrefix(te.Field, "."), te.Type)
	}
	return err.Error()
}
