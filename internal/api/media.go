package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/store"
)

func (s *Server) mediaRoutes() {
	raw := map[string]handlerFunc{
		http.MethodGet:  s.getMediaRaw,
		http.MethodPost: s.putMediaRaw,
		http.MethodPut:  s.putMediaRaw,
	}
	s.handle("/v2/accounts/{account}/media/{id}/raw", raw, false)
}

// prepareMediaDoc keeps the file's size and type, which only an upload sets.
func (s *Server) prepareMediaDoc(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	delete(body, "content_length")
	if cur != nil {
		if v, ok := cur["content_length"]; ok {
			body["content_length"] = v
		}
		if v, ok := cur["content_type"]; ok {
			body["content_type"] = v
		}
	}
	return nil
}

func (s *Server) deleteMediaObject(ctx context.Context, rq *request, d *store.Doc) {
	err := s.st.Buckets().Media.Delete(ctx, store.MediaObject(d.Account, d.ID))
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		s.log.Warn("deleting media file", "account_id", d.Account, "media_id", d.ID, "err", err)
	}
}

// mediaDoc loads a media document the caller may use.
func (s *Server) mediaDoc(rq *request) (*store.Doc, error) {
	if _, err := s.reach(rq); err != nil {
		return nil, err
	}
	if !rq.p.admin() {
		return nil, errForbidden()
	}
	return s.st.Get(rq.r.Context(), rq.account, store.TypeMedia, rq.r.PathValue("id"))
}

func (s *Server) getMediaRaw(rq *request) error {
	d, err := s.mediaDoc(rq)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	obj, err := s.st.Buckets().Media.Get(ctx, store.MediaObject(d.Account, d.ID))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return &apiError{code: http.StatusNotFound, message: "bad identifier",
			data: map[string]any{"message": "the media has no file uploaded", "cause": d.ID}}
	}
	if err != nil {
		return err
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return err
	}
	ct := str(d.Body["content_type"])
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := rq.w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatUint(info.Size, 10))
	h.Set("X-File-Name", d.ID+extensionFor(ct))
	h.Set("X-Request-ID", rq.id)
	rq.w.WriteHeader(http.StatusOK)
	if rq.r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(rq.w, obj); err != nil {
		s.log.Warn("sending media", "media_id", d.ID, "err", err)
	}
	return nil
}

// putMediaRaw stores an uploaded file: a binary audio body, or the
// base64 data URL Kazoo's web UI sends as application/x-base64.
func (s *Server) putMediaRaw(rq *request) error {
	d, err := s.mediaDoc(rq)
	if err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	body, err := rq.readBody(s.cfg.MaxMediaBytes*4/3 + 1024)
	if err != nil {
		return err
	}
	if ct == "application/x-base64" || bytes.HasPrefix(body, []byte("data:")) {
		ct, body, err = decodeDataURL(body)
		if err != nil {
			return fieldError("raw", "format", err.Error())
		}
	}
	if int64(len(body)) > s.cfg.MaxMediaBytes {
		return errTooLarge(s.cfg.MaxMediaBytes)
	}
	if !strings.HasPrefix(ct, "audio/") {
		return &apiError{code: http.StatusUnsupportedMediaType, message: "unsupported media type",
			data: map[string]any{"message": "upload an audio file (audio/wav, audio/mpeg, …)", "cause": ct}}
	}
	if len(body) == 0 {
		return fieldError("raw", "minLength", "the uploaded file is empty")
	}
	ctx := rq.r.Context()
	_, err = s.st.Buckets().Media.Put(ctx, jetstream.ObjectMeta{
		Name:    store.MediaObject(d.Account, d.ID),
		Headers: map[string][]string{"Content-Type": {ct}},
	}, bytes.NewReader(body))
	if err != nil {
		return err
	}
	nd, err := s.st.Update(ctx, d.Account, store.TypeMedia, d.ID, 0, func(cur map[string]any) (map[string]any, error) {
		cur["content_type"] = ct
		cur["content_length"] = len(body)
		return cur, nil
	})
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, publicView(nd), nd.Rev)
	return nil
}

func decodeDataURL(b []byte) (string, []byte, error) {
	s := string(bytes.TrimSpace(b))
	if !strings.HasPrefix(s, "data:") {
		out, err := base64.StdEncoding.DecodeString(s)
		return "", out, err
	}
	comma := strings.IndexByte(s, ',')
	if comma < 0 || !strings.HasSuffix(s[:comma], ";base64") {
		return "", nil, errors.New("expected a base64 data URL")
	}
	ct := strings.TrimSuffix(strings.TrimPrefix(s[:comma], "data:"), ";base64")
	out, err := base64.StdEncoding.DecodeString(s[comma+1:])
	if err != nil {
		return "", nil, errors.New("the data URL is not valid base64")
	}
	return ct, out, nil
}

func extensionFor(ct string) string {
	switch ct {
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "audio/mpeg", "audio/mp3":
		return ".mp3"
	case "audio/ogg":
		return ".ogg"
	}
	return ""
}
