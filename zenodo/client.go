// Package zenodo publishes a packed model on Zenodo through its REST
// deposition API (developers.zenodo.org): create a deposition, upload the
// archive to its bucket, set its metadata, publish. It also talks to a
// self-hosted Zenodo or InvenioRDM with the same API, and to the test
// servers that stand in for Zenodo, which cannot be reached from CI.
// It knows nothing of LibTorch.
package zenodo

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"medzoo/internal/bytesize"
	"medzoo/internal/files"
)

// Limits and waits. A deposition's JSON is a few KiB: 1 MiB bounds every
// answer read. Retries are few, so that a Zenodo that keeps failing ends
// in a clear error within minutes, and a Retry-After longer than maxWait
// is reported instead of slept through.
const (
	maxAnswer    = 1 << 20
	maxAttempts  = 5
	maxWait      = 2 * time.Minute
	callTimeout  = 2 * time.Minute  // one JSON call, answer included
	stallTimeout = 2 * time.Minute  // an upload that sends nothing for this long
	answerWait   = 10 * time.Minute // after the last byte: Zenodo checksums and stores the file
)

// Client talks to one Zenodo API with one access token.
type Client struct {
	// BaseURL is the API root, such as https://zenodo.org/api.
	BaseURL string
	// Token is the access token, sent as "Authorization: Bearer"; it is
	// never written into a URL, an error or a message.
	Token string
	HTTP  *http.Client
	// Notify, if set, is told of every wait and retry (one line each).
	Notify func(msg string)
	// Progress, if set, is told how much of the upload has been sent; it
	// starts again from 0 when the upload is retried.
	Progress func(done, total int64)
	// Sleep waits d or until ctx ends; tests replace it to keep waits out.
	Sleep func(ctx context.Context, d time.Duration) error
	// Timeouts; zero means the defaults above.
	CallTimeout, StallTimeout time.Duration
}

// New returns a client of the API at baseURL with token.
func New(baseURL, token string) *Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		// Redirects would carry the token to wherever they point: none
		// is followed (the deposition API answers without them).
		HTTP: &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Upload is what Publish puts on Zenodo.
type Upload struct {
	Path     string // the archive
	Name     string // its file name on Zenodo
	Metadata Metadata
	Draft    bool // stop before publishing: the deposition stays a draft
}

// Result is a deposition Publish made.
type Result struct {
	DepositionID int64  `json:"deposition_id"`
	RecordID     int64  `json:"record_id"`
	DOI          string `json:"doi"`        // the record's DOI (reserved, for a draft)
	RecordURL    string `json:"record_url"` // the record's page
	FileURL      string `json:"file_url"`   // the archive's download link (works once published)
	DraftURL     string `json:"draft_url"`  // the deposition's page, where a draft is edited
	Published    bool   `json:"published"`
	Size         int64  `json:"size"`
	MD5          string `json:"md5"` // as sent, and as Zenodo reported it
}

// Draft names a deposition left on Zenodo by a publish that failed after
// creating it.
type Draft struct {
	ID  int64
	URL string // its page
	API string // its API URL, which DELETE removes
}

// DraftError is a failure after the deposition was created: the draft is
// still on Zenodo, and the message says how to finish or remove it.
type DraftError struct {
	Draft Draft
	File  string // the archive's name on Zenodo
	Err   error
}

func (e *DraftError) Error() string {
	page := e.Draft.URL
	if page == "" {
		page = "your uploads on Zenodo"
	}
	return fmt.Sprintf("%v\nThe draft deposition %d is left on Zenodo (%s). Either finish it there (upload %s, check its metadata, publish), "+
		"or delete it there or with\n   curl -X DELETE -H \"Authorization: Bearer $ZENODO_TOKEN\" %s\nand run zoo publish again "+
		"(zoo pack makes the same archive bytes every time).", e.Err, e.Draft.ID, page, e.File, e.Draft.API)
}

func (e *DraftError) Unwrap() error { return e.Err }

// StatusError is an answer Zenodo gave that is no success.
type StatusError struct {
	Step    string // "creating the deposition", "uploading x.zip", …
	Status  int
	Message string // Zenodo's message and field errors, if it sent them
	Hint    string // what to do about it
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("Zenodo refused %s: %d %s", e.Step, e.Status, http.StatusText(e.Status))
	if e.Message != "" && e.Message != http.StatusText(e.Status) {
		msg += " (" + e.Message + ")"
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// deposition is the part of Zenodo's deposition resource zoo reads.
type deposition struct {
	ID       int64  `json:"id"`
	RecordID int64  `json:"record_id"`
	DOI      string `json:"doi"`
	Links    struct {
		Bucket     string `json:"bucket"`
		HTML       string `json:"html"`
		RecordHTML string `json:"record_html"`
	} `json:"links"`
	Metadata struct {
		// An object once reserved ({"doi", "recid"}); false or absent
		// before, so it is read leniently.
		PrereserveDOI json.RawMessage `json:"prereserve_doi"`
	} `json:"metadata"`
}

func (d *deposition) reserved() (doi string, recid int64) {
	var r struct {
		DOI   string `json:"doi"`
		RecID int64  `json:"recid"`
	}
	if json.Unmarshal(d.Metadata.PrereserveDOI, &r) == nil {
		return r.DOI, r.RecID
	}
	return "", 0
}

// uploaded is the bucket's answer to a file PUT.
type uploaded struct {
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	Checksum string `json:"checksum"` // "md5:<hex>"
}

// Publish creates a deposition, uploads u.Path to its bucket, sets its
// metadata and, unless u.Draft, publishes it. A failure after the
// deposition exists is a *DraftError naming it.
func (c *Client) Publish(ctx context.Context, u Upload) (*Result, error) {
	res, err := c.publish(ctx, u)
	if err != nil {
		return nil, c.redact(err)
	}
	return res, nil
}

func (c *Client) publish(ctx context.Context, u Upload) (*Result, error) {
	f, err := files.OpenRegular(u.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var dep deposition
	// Created empty, as the API's quickstart does; the metadata follows
	// the file. A create is not repeated after a 5xx (it may have made a
	// deposition already); a 429 means it was not processed.
	err = c.call(ctx, "creating the deposition", http.MethodPost, c.BaseURL+"/deposit/depositions", []byte("{}"), http.StatusCreated, &dep, false)
	if err != nil {
		return nil, err
	}
	draft := Draft{ID: dep.ID, URL: dep.Links.HTML, API: c.depositionURL(dep.ID)}
	left := func(err error) error { return &DraftError{Draft: draft, File: u.Name, Err: err} }
	if dep.ID <= 0 {
		return nil, fmt.Errorf("Zenodo's answer to creating the deposition has no id: is %s a Zenodo API (…/api)?", c.BaseURL)
	}
	if err := c.sameServer(dep.Links.Bucket, "links.bucket"); err != nil {
		return nil, left(err)
	}
	sum, err := c.upload(ctx, dep.Links.Bucket, u.Name, f, st.Size())
	if err != nil {
		return nil, left(err)
	}
	body, err := json.Marshal(map[string]any{"metadata": u.Metadata})
	if err != nil {
		return nil, left(err)
	}
	if err := c.call(ctx, "the metadata", http.MethodPut, c.depositionURL(dep.ID), body, http.StatusOK, &dep, true); err != nil {
		return nil, left(err)
	}
	doi, recid := dep.reserved()
	res := &Result{DepositionID: dep.ID, RecordID: recid, DOI: doi, DraftURL: dep.Links.HTML, Size: st.Size(), MD5: sum}
	if !u.Draft {
		// Not repeated after a 5xx either: the record may be out already,
		// which the deposition's page shows.
		err := c.call(ctx, "publishing", http.MethodPost, c.depositionURL(dep.ID)+"/actions/publish", nil, http.StatusAccepted, &dep, false)
		if err != nil {
			return nil, left(err)
		}
		res.Published = true
		if dep.DOI != "" {
			res.DOI = dep.DOI
		}
		if dep.RecordID > 0 {
			res.RecordID = dep.RecordID
		}
	}
	if res.RecordID <= 0 {
		res.RecordID = dep.ID // Zenodo's record id is the deposition's
	}
	res.RecordURL = c.webRoot() + "/records/" + strconv.FormatInt(res.RecordID, 10)
	res.FileURL = res.RecordURL + "/files/" + url.PathEscape(u.Name) + "?download=1"
	return res, nil
}

func (c *Client) depositionURL(id int64) string {
	return c.BaseURL + "/deposit/depositions/" + strconv.FormatInt(id, 10)
}

// webRoot is the site the API belongs to: https://zenodo.org for
// https://zenodo.org/api.
func (c *Client) webRoot() string { return strings.TrimSuffix(c.BaseURL, "/api") }

// sameServer refuses a link from an answer that leads to another server
// than the API's: the token would go with the request.
func (c *Client) sameServer(link, field string) error {
	base, err1 := url.Parse(c.BaseURL)
	u, err2 := url.Parse(link)
	switch {
	case link == "":
		return fmt.Errorf("Zenodo's answer has no %s, where the file goes: is %s a Zenodo API (…/api)?", field, c.BaseURL)
	case err1 != nil || err2 != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host):
		return fmt.Errorf("Zenodo's answer sends the file to %s (%s), another server than %s: zoo sends the token to that one only", link, field, c.BaseURL)
	}
	return nil
}

// upload PUTs the file to bucket/name, streaming it with its length, and
// checks the md5 Zenodo reports against the bytes sent. A 5xx, a 429 or a
// broken connection is retried a few times from the start.
func (c *Client) upload(ctx context.Context, bucket, name string, f *os.File, size int64) (string, error) {
	step := "uploading " + name
	target := strings.TrimRight(bucket, "/") + "/" + url.PathEscape(name)
	var got uploaded
	var sent string
	for attempt := 1; ; attempt++ {
		sum := md5.New()
		stall := c.StallTimeout
		if stall <= 0 {
			stall = stallTimeout
		}
		actx, cancel := context.WithCancelCause(ctx)
		body := &sending{r: io.TeeReader(io.NewSectionReader(f, 0, size), sum), total: size, progress: c.Progress}
		body.touch()
		done := make(chan struct{})
		go body.watch(actx, cancel, stall, done)
		req, err := http.NewRequestWithContext(actx, http.MethodPut, target, body)
		if err != nil {
			cancel(nil)
			return "", err
		}
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.send(req)
		if err == nil {
			err = c.answer(resp, step, http.StatusCreated, &got, size)
		}
		close(done)
		if cause := context.Cause(actx); err != nil && cause != nil && ctx.Err() == nil {
			err = cause // the watchdog's reason, not "context canceled"
		}
		cancel(nil)
		if err == nil {
			sent = hex.EncodeToString(sum.Sum(nil))
			break
		}
		if werr := c.retry(ctx, step, err, attempt, true); werr != nil {
			return "", werr
		}
	}
	if got.Size != 0 && got.Size != size {
		return "", fmt.Errorf("Zenodo stored %s as %d bytes, but zoo sent %d", name, got.Size, size)
	}
	algo, hexsum, _ := strings.Cut(got.Checksum, ":")
	if algo != "md5" || !strings.EqualFold(hexsum, sent) {
		return "", fmt.Errorf("Zenodo reports %s's checksum as %q, but the bytes zoo sent have md5:%s: the file was damaged on the way", name, got.Checksum, sent)
	}
	return sent, nil
}

// sending is an upload body that reports progress and when it last moved.
type sending struct {
	r        io.Reader
	total    int64
	done     atomic.Int64
	last     atomic.Int64 // unix nanoseconds of the last read
	finished atomic.Int64 // when the last byte was read; 0 before
	progress func(done, total int64)
}

func (s *sending) touch() { s.last.Store(time.Now().UnixNano()) }

func (s *sending) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.touch()
	done := s.done.Add(int64(n))
	if n > 0 && s.progress != nil {
		s.progress(done, s.total)
	}
	// The transport stops reading at ContentLength, before any EOF.
	if (err == io.EOF || done >= s.total) && s.finished.Load() == 0 {
		s.finished.Store(time.Now().UnixNano())
	}
	return n, err
}

// watch cancels the upload when it sends nothing for stall, or when the
// answer takes longer than answerWait after the last byte.
func (s *sending) watch(ctx context.Context, cancel context.CancelCauseFunc, stall time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(max(min(stall/4, time.Second), time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if fin := s.finished.Load(); fin != 0 {
				if now.Sub(time.Unix(0, fin)) > answerWait {
					cancel(fmt.Errorf("Zenodo did not answer within %s after the whole file was sent", answerWait))
					return
				}
				continue
			}
			if now.Sub(time.Unix(0, s.last.Load())) > stall {
				cancel(fmt.Errorf("the upload stalled: nothing could be sent for %s (%s of %s sent)", stall,
					bytesize.Human(s.done.Load()), bytesize.Human(s.total)))
				return
			}
		}
	}
}

// call makes one JSON request (body nil: none) and decodes the answer,
// which must have status want, into out. 429 is always retried as Zenodo
// asks; a 5xx or a broken connection only when retry5xx (requests that may
// be repeated without doing twice what they do).
func (c *Client) call(ctx context.Context, step, method, target string, body []byte, want int, out any, retry5xx bool) error {
	timeout := c.CallTimeout
	if timeout <= 0 {
		timeout = callTimeout
	}
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(cctx, method, target, r)
		if err != nil {
			cancel()
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.send(req)
		if err == nil {
			err = c.answer(resp, step, want, out, 0)
		}
		if err != nil && cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = fmt.Errorf("Zenodo did not answer %s within %s (%s): check the network and %s, or try again later", step, timeout, target, c.BaseURL)
		}
		cancel()
		if err == nil {
			return nil
		}
		if werr := c.retry(ctx, step, err, attempt, retry5xx); werr != nil {
			return werr
		}
	}
}

// send adds the token and sends req.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &netError{err}
	}
	return resp, nil
}

// netError is a request that got no answer.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// retryable is an answer worth another attempt: when it may come, and why.
type retryable struct {
	err   *StatusError
	after time.Duration // what Zenodo asked for; 0: not said
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// answer reads resp: on status want, its JSON into out; otherwise the
// error it means. size is the upload's, for a 413's message.
func (c *Client) answer(resp *http.Response, step string, want int, out any, size int64) error {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return &netError{fmt.Errorf("reading Zenodo's answer to %s: %w", step, err)}
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("Zenodo's answer to %s is over %s: is %s a Zenodo API (…/api)?", step, bytesize.Human(maxAnswer), c.BaseURL)
	}
	// The API documents one success status per call; a server that says
	// 200 for 201 (some InvenioRDM versions) is no reason to fail.
	if resp.StatusCode == want || (resp.StatusCode/100 == 2 && want/100 == 2) {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("Zenodo's answer to %s is not the JSON it documents (%v): is %s a Zenodo API (…/api)?", step, err, c.BaseURL)
		}
		return nil
	}
	se := &StatusError{Step: step, Status: resp.StatusCode, Message: message(data)}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		what := "is missing, wrong or expired"
		if code == http.StatusForbidden {
			what = "lacks a scope zoo needs"
		}
		se.Hint = fmt.Sprintf("the access token in ZENODO_TOKEN %s (a sandbox token works only with --sandbox, and a zenodo.org one only without); "+
			"create one at %s/account/settings/applications/tokens/new/ with the scopes deposit:write and deposit:actions, and export ZENODO_TOKEN=…",
			what, c.webRoot())
	case code == http.StatusRequestEntityTooLarge && size == 0:
		se.Hint = "the request is larger than the server accepts"
	case code == http.StatusRequestEntityTooLarge:
		se.Hint = fmt.Sprintf("the file is %s (%d bytes), more than the server accepts (zenodo.org takes up to 50 GB per record; a self-hosted one sets its own limit)",
			bytesize.Human(size), size)
	case code == http.StatusTooManyRequests:
		return &retryable{err: se, after: retryAfter(resp.Header)}
	case code >= 500:
		return &retryable{err: se, after: retryAfter(resp.Header)}
	case code == http.StatusNotFound:
		se.Hint = fmt.Sprintf("is %s a Zenodo API (…/api)?", c.BaseURL)
	}
	return se
}

// message is Zenodo's error body: {"message": …, "errors": [{"field", "message"}]}.
func message(data []byte) string {
	var e struct {
		Message string `json:"message"`
		Errors  []struct {
			Field    string `json:"field"`
			Message  any    `json:"message"`
			Messages any    `json:"messages"`
		} `json:"errors"`
	}
	if json.Unmarshal(data, &e) != nil {
		return ""
	}
	parts := []string{strings.TrimSpace(e.Message)}
	for _, fe := range e.Errors {
		msg := fe.Message
		if msg == nil {
			msg = fe.Messages
		}
		parts = append(parts, fmt.Sprintf("%s: %v", fe.Field, msg))
	}
	out := strings.Trim(strings.Join(parts, "; "), "; ")
	if len(out) > 1000 {
		out = out[:1000] + "…"
	}
	return out
}

// retryAfter reads Retry-After (seconds or a date), else Zenodo's
// X-RateLimit-Reset (the Unix time its window resets).
func retryAfter(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), time.Second)
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Until(time.Unix(s, 0)), time.Second)
		}
	}
	return 0
}

// retry decides after a failed attempt: nil to try again (having waited),
// or the error to return.
func (c *Client) retry(ctx context.Context, step string, err error, attempt int, retry5xx bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *retryable
	var ne *netError
	var wait time.Duration
	var why string
	switch {
	case errors.As(err, &re) && re.err.Status == http.StatusTooManyRequests:
		wait, why = re.after, "429 Too Many Requests"
		if wait > maxWait {
			re.err.Hint = fmt.Sprintf("Zenodo's rate limit asks to wait %s: try again after %s", wait.Round(time.Second), time.Now().Add(wait).Format("15:04"))
			return re.err
		}
	case errors.As(err, &re) && retry5xx:
		wait, why = re.after, fmt.Sprintf("%d %s", re.err.Status, http.StatusText(re.err.Status))
	case errors.As(err, &re):
		re.err.Hint = "Zenodo failed; try again later"
		return re.err
	case errors.As(err, &ne) && retry5xx:
		wait, why = 0, ne.Error()
	default:
		return err
	}
	if attempt >= maxAttempts {
		if re != nil {
			re.err.Hint = fmt.Sprintf("still failing after %d attempts; try again later", attempt)
			return re.err
		}
		return fmt.Errorf("%s: %v, %d times; check the network and try again later", step, err, attempt)
	}
	if wait <= 0 {
		wait = time.Duration(1<<(attempt-1)) * time.Second // 1s, 2s, 4s, …
	}
	wait = min(wait, maxWait)
	if c.Notify != nil {
		c.Notify(fmt.Sprintf("Zenodo: %s while %s; waiting %s, then trying again (attempt %d of %d)",
			why, step, wait.Round(time.Millisecond), attempt+1, maxAttempts))
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	return sleep(ctx, wait)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redact removes the token from an error's text, wherever a server or a
// library put it.
func (c *Client) redact(err error) error {
	if len(c.Token) < 4 || !strings.Contains(err.Error(), c.Token) {
		return err
	}
	return &redacted{err: err, token: c.Token}
}

type redacted struct {
	err   error
	token string
}

func (r *redacted) Error() string {
	return strings.ReplaceAll(r.err.Error(), r.token, "[ZENODO_TOKEN]")
}
func (r *redacted) Unwrap() error { return r.err }
