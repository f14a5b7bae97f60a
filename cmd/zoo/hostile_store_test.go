package main_test

// The hostile-input corpus for downloads, the artifact store and archives
// (docs/reliability.md): hostile HTTP servers on 127.0.0.1, planted links
// in the cache, a cache damaged on disk, killed and concurrent pulls, and
// zip attacks through `zoo pull` and `zoo import --package`.

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"medzoo/internal/testmodules"
	"medzoo/internal/testnet"
)

const storeModelID = "90010_HOSTILE_STORE"

// storeCatalog writes a user catalog whose one model, storeModelID, has
// the given artifact. format is torchscript (with the tiny signature) or
// python-package (a zip that pull unpacks). size 0 declares none.
func storeCatalog(t *testing.T, url, sum string, size int64, format string) string {
	t.Helper()
	extra := ""
	if size != 0 {
		extra = fmt.Sprintf("size = %d\n", size)
	}
	sig := ""
	if format == "torchscript" {
		sig = tinySignature
	}
	return writeCatalog(t, catalogEntry{id: storeModelID, title: "Hostile store test", url: url, sha256: sum, format: format, artifact: extra, signature: sig})
}

// tinyModule is the bytes and sha256 of the tiny test generator.
func tinyModule(t *testing.T) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(testmodules.Path(t, "tiny_generator.pt"))
	if err != nil {
		t.Fatal(err)
	}
	return b, sha256Hex(b)
}

func sha256Hex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// sha256FileNoT hashes a file, "" if it cannot be read.
func sha256FileNoT(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return sha256Hex(b)
}

// hostilePull is one pull against a hostile source: a private cache and
// catalog, and a victim directory (where planted links point) that must
// stay as it was.
type hostilePull struct {
	cache, catalog, victim string
	env                    []string
	before                 map[string]string
}

func newHostilePull(t *testing.T, url, sum string, size int64, env ...string) *hostilePull {
	t.Helper()
	return newHostilePullFormat(t, url, sum, size, "torchscript", env...)
}

func newHostilePullFormat(t *testing.T, url, sum string, size int64, format string, env ...string) *hostilePull {
	t.Helper()
	p := &hostilePull{cache: filepath.Join(t.TempDir(), "cache"), victim: t.TempDir()}
	p.catalog = storeCatalog(t, url, sum, size, format)
	if err := os.WriteFile(filepath.Join(p.victim, "victim.txt"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.env = append([]string{"ZOO_CACHE=" + p.cache, "ZOO_CATALOG=" + p.catalog}, env...)
	p.before = treeState(t, p.victim, filepath.Dir(p.catalog))
	return p
}

func (p *hostilePull) pull(t *testing.T, args ...string) result {
	t.Helper()
	return zoo(t, p.env, append([]string{"pull", storeModelID}, args...)...)
}

// refused asserts the exit code and message, that the victim and catalog
// are untouched, and that nothing was cached or left in tmp/.
func (p *hostilePull) refused(t *testing.T, r result, code int, fragments ...string) {
	t.Helper()
	wantFail(t, r, code, fragments...)
	unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
	for _, sub := range []string{"blobs", "unpacked", "tmp"} {
		if fi, err := os.Lstat(filepath.Join(p.cache, sub)); err == nil && !fi.IsDir() {
			continue // a link the test planted, checked through the victim
		}
		if ents, _ := os.ReadDir(filepath.Join(p.cache, sub)); len(ents) != 0 {
			t.Fatalf("a refused pull left %d entries in %s/", len(ents), sub)
		}
	}
	p.cleanStderr(t, r)
}

// cleanStderr: one message, not a dump of logs or binary bytes.
func (p *hostilePull) cleanStderr(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(r.stderr, "Unsolicited") || strings.ContainsRune(r.stderr, 0) || len(r.stderr) > 4000 {
		t.Fatalf("stderr is not one clean message (%d bytes):\n%.600q", len(r.stderr), r.stderr)
	}
}

// serve starts an httptest server (127.0.0.1) with handler h.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// rawResponder: for replies net/http would never write.
var rawResponder = testnet.RawServer

func TestHostileStoreDownloads(t *testing.T) {
	module, sum := tinyModule(t)
	size := int64(len(module))
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("endless "), 8192)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	announces10MiB := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(10<<20))
		w.Write(module[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}

	t.Run("endless-body-declared-size", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 3892)
		p.refused(t, p.pull(t), 1, storeModelID, "more than the 3892 bytes the catalog declares", "stopped", "nothing was cached")
	})
	t.Run("endless-body-env-cap", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 0, "ZOO_MAX_DOWNLOAD=1MiB")
		p.refused(t, p.pull(t), 1, "more than the download limit of 1048576 bytes", "--max-download", "ZOO_MAX_DOWNLOAD")
	})
	t.Run("endless-body-flag-cap", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 0)
		p.refused(t, p.pull(t, "--max-download", "2MiB"), 1, "more than the download limit of 2097152 bytes")
	})
	t.Run("max-download-flag-not-a-size", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 0)
		p.refused(t, p.pull(t, "--max-download", "lots"), 2, "--max-download", `"lots" is not a size`, "4GiB")
	})
	t.Run("max-download-flag-zero", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 0)
		p.refused(t, p.pull(t, "--max-download", "0"), 2, "--max-download", "more than zero")
	})
	t.Run("max-download-env-not-a-size", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, 0, "ZOO_MAX_DOWNLOAD=-1")
		p.refused(t, p.pull(t), 1, "ZOO_MAX_DOWNLOAD", "not a size")
	})
	t.Run("content-length-disagrees-with-size", func(t *testing.T) {
		p := newHostilePull(t, serve(t, announces10MiB)+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "announces 10485760 bytes", "Content-Length", fmt.Sprintf("catalog says %d bytes", size))
	})
	t.Run("content-length-over-cap", func(t *testing.T) {
		p := newHostilePull(t, serve(t, announces10MiB)+"/m.pt", sum, 0)
		p.refused(t, p.pull(t, "--max-download", "1MiB"), 1, "announces 10485760 bytes", "more than the download limit of 1048576 bytes")
	})
	t.Run("declared-size-over-cap", func(t *testing.T) {
		var hits atomic.Int32
		url := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.Write(module) })
		p := newHostilePull(t, url+"/m.pt", sum, 10<<30)
		p.refused(t, p.pull(t), 1, "the catalog says", "10737418240 bytes (10.0 GiB)", "more than the download limit", "nothing was downloaded")
		if hits.Load() != 0 {
			t.Fatalf("a download refused by its declared size still made %d requests", hits.Load())
		}
	})
	t.Run("stall-after-headers", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(module)))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		p := newHostilePull(t, url+"/m.pt", sum, size, "ZOO_STALL_TIMEOUT=700ms")
		p.refused(t, p.pull(t), 1, "the server sent nothing for 700ms", "ZOO_STALL_TIMEOUT", "nothing was cached")
	})
	t.Run("stall-mid-body", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(module)))
			w.Write(module[:len(module)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		p := newHostilePull(t, url+"/m.pt", sum, size, "ZOO_STALL_TIMEOUT=700ms")
		p.refused(t, p.pull(t), 1, fmt.Sprintf("stopped after %d bytes", len(module)/2), "sent nothing for 700ms")
	})
	t.Run("stall-before-headers", func(t *testing.T) {
		url := rawResponder(t, func(c net.Conn) { time.Sleep(20 * time.Second) })
		p := newHostilePull(t, url+"/m.pt", sum, size, "ZOO_STALL_TIMEOUT=700ms")
		p.refused(t, p.pull(t), 1, "the server sent nothing for 700ms")
	})
	t.Run("stall-timeout-not-a-duration", func(t *testing.T) {
		p := newHostilePull(t, serve(t, endless)+"/m.pt", sum, size, "ZOO_STALL_TIMEOUT=soon")
		p.refused(t, p.pull(t), 1, `ZOO_STALL_TIMEOUT="soon" is not a positive duration`, "30s")
	})
	t.Run("redirect-loop", func(t *testing.T) {
		var base string
		base = serve(t, func(w http.ResponseWriter, r *http.Request) {
			next := map[string]string{"/a": "/b", "/b": "/c", "/c": "/a"}[r.URL.Path]
			http.Redirect(w, r, next, http.StatusFound)
		})
		p := newHostilePull(t, base+"/a", sum, size)
		p.refused(t, p.pull(t), 1, "redirect loop after 3 redirects", base+"/c", base+"/a")
	})
	t.Run("redirect-to-file-url", func(t *testing.T) {
		// Points at a real file, the module itself: it must not be read.
		target := "file://" + testmodules.Path(t, "tiny_generator.pt")
		url := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) })
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "refused a redirect from "+url+"/m.pt to "+target, "only http(s) redirects are followed")
	})
	t.Run("redirect-to-ftp", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "ftp://127.0.0.1/m.pt", http.StatusMovedPermanently)
		})
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "to ftp://127.0.0.1/m.pt", "only http(s) redirects are followed")
	})
	t.Run("redirect-chain-too-long", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n+1), http.StatusTemporaryRedirect)
		})
		p := newHostilePull(t, url+"/hop/0", sum, size)
		p.refused(t, p.pull(t), 1, "gave up after 10 redirects")
	})
	t.Run("redirect-without-location", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) })
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "HTTP 302 Found", "without a usable Location")
	})
	t.Run("honest-redirect", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/real.pt" {
				w.Write(module)
				return
			}
			http.Redirect(w, r, "/real.pt", http.StatusFound)
		})
		p := newHostilePull(t, url+"/m.pt", sum, size)
		mustOK(t, p.pull(t))
		unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
	})
	t.Run("body-longer-than-content-length", func(t *testing.T) {
		junk := bytes.Repeat([]byte{0, 0xff, 0x1b, 'H', 'T', 'T', 'P'}, 4000)
		url := rawResponder(t, func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(module))
			c.Write(module)
			c.Write(junk)
			time.Sleep(300 * time.Millisecond)
		})
		p := newHostilePull(t, url+"/m.pt", sum, size)
		r := mustOK(t, p.pull(t))
		if strings.Contains(r.stderr, "Unsolicited") || strings.ContainsRune(r.stderr, 0) {
			t.Fatalf("stderr carries net/http's log of the extra bytes:\n%.400q", r.stderr)
		}
		unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
	})
	t.Run("content-length-shorter-than-artifact", func(t *testing.T) {
		url := rawResponder(t, func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(module)-10)
			c.Write(module)
		})
		p := newHostilePull(t, url+"/m.pt", sum, 0)
		p.refused(t, p.pull(t), 1, "checksum mismatch", sum, fmt.Sprintf("(%d bytes)", len(module)-10), "nothing was cached")
	})
	t.Run("checksum-mismatch", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(append([]byte("x"), module[1:]...)) })
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "checksum mismatch", "expected sha256 "+sum, "altered in transit", "nothing was cached")
	})
	t.Run("size-mismatch", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(module) })
		p := newHostilePull(t, url+"/m.pt", sum, size+1)
		// More than 2 KiB: net/http's server streams it chunked, without a
		// Content-Length, so only the count after the body can tell.
		p.refused(t, p.pull(t), 1, fmt.Sprintf("gave %d bytes, the catalog says %d", size, size+1))
	})
	t.Run("truncated-body", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(module)))
			w.Write(module[:1000])
		})
		p := newHostilePull(t, url+"/m.pt", sum, 0)
		p.refused(t, p.pull(t), 1, fmt.Sprintf("the connection closed after 1000 of %d bytes", len(module)), "nothing was cached")
	})
	t.Run("close-mid-chunked-body", func(t *testing.T) {
		url := rawResponder(t, func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 1000)
			c.Write(module[:1000])
			c.Write([]byte("\r\n")) // no terminating chunk: the server just goes away
		})
		p := newHostilePull(t, url+"/m.pt", sum, 0)
		p.refused(t, p.pull(t), 1, storeModelID, url+"/m.pt", "unexpected EOF", "nothing was cached")
	})
	for _, tc := range []struct {
		name string
		code int
		want string
	}{
		{"http-404", http.StatusNotFound, "the catalog entry may be out of date"},
		{"http-410", http.StatusGone, "the catalog entry may be out of date"},
		{"http-403", http.StatusForbidden, "the server refuses access"},
		{"http-429", http.StatusTooManyRequests, "try again later"},
		{"http-500", http.StatusInternalServerError, "try again later"},
		{"http-503", http.StatusServiceUnavailable, "try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", tc.code) })
			p := newHostilePull(t, url+"/m.pt", sum, size)
			p.refused(t, p.pull(t), 1, fmt.Sprintf("HTTP %d %s", tc.code, http.StatusText(tc.code)), tc.want, "nothing was cached")
		})
	}
	t.Run("not-http-at-all", func(t *testing.T) {
		url := rawResponder(t, func(c net.Conn) { c.Write([]byte("\x00\x01garbage, not HTTP\r\n\r\n")) })
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, storeModelID, "malformed HTTP", "nothing was cached")
	})
	t.Run("huge-response-headers", func(t *testing.T) {
		url := rawResponder(t, func(c net.Conn) {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Filler: %s\r\n\r\n", strings.Repeat("a", 2<<20))
		})
		p := newHostilePull(t, url+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, storeModelID, "headers exceeded", "nothing was cached")
	})
	t.Run("connection-refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := newHostilePull(t, "http://"+addr+"/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, storeModelID, "connection refused", "nothing was cached")
	})
	t.Run("unsupported-scheme", func(t *testing.T) {
		p := newHostilePull(t, "gopher://127.0.0.1/m.pt", sum, size)
		p.refused(t, p.pull(t), 1, "unsupported scheme", "https://")
	})
}

// countingServer serves the module and counts accepted connections.
func countingServer(t *testing.T, module []byte) (string, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(module) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, &conns
}

func TestHostileStoreCache(t *testing.T) {
	module, sum := tinyModule(t)
	size := int64(len(module))

	t.Run("offline-opens-no-socket", func(t *testing.T) {
		url, conns := countingServer(t, module)
		p := newHostilePull(t, url+"/m.pt", sum, size)
		r := zoo(t, p.env, "--offline", "pull", storeModelID)
		p.refused(t, r, 1, "offline mode is on", "zoo pull "+storeModelID+"`")
		if strings.Contains(r.stderr, "--allow-unpinned") {
			t.Errorf("the hint for a pinned artifact asks for --allow-unpinned: %s", r.stderr)
		}
		p.refused(t, zoo(t, append(p.env, "ZOO_OFFLINE=1"), "pull", storeModelID), 1, "offline mode is on")
		// A package the catalog pins no sha256 for: the pull the hint
		// names must carry --allow-unpinned, or it would be refused too.
		unpinned := newHostilePullFormat(t, url+"/m.zip", "", 0, "python-package") // only packages may be unpinned
		unpinned.refused(t, unpinned.pull(t, "--offline", "--allow-unpinned"), 1, "offline mode is on",
			"zoo pull "+storeModelID+" --allow-unpinned`")
		out := filepath.Join(t.TempDir(), "out")
		p.refused(t, zoo(t, append(p.env, "ZOO_OFFLINE=1"), "generate", storeModelID, "-n", "1", "-o", out), 1, "offline", "zoo pull")
		time.Sleep(100 * time.Millisecond) // a stray connection would be accepted by now
		if n := conns.Load(); n != 0 {
			t.Fatalf("offline commands opened %d connections", n)
		}
		mustOK(t, p.pull(t))
		if conns.Load() == 0 {
			t.Fatal("the online pull made no connection: the counter is broken")
		}
	})

	// pulled is a store that holds the module's verified blob, and that
	// blob's path, for a subtest to damage.
	pulled := func(t *testing.T) (*hostilePull, string, *atomic.Int64) {
		t.Helper()
		url, conns := countingServer(t, module)
		p := newHostilePull(t, url+"/m.pt", sum, size)
		mustOK(t, p.pull(t))
		return p, filepath.Join(p.cache, "blobs", "sha256-"+sum), conns
	}
	t.Run("cache-bytes-changed-on-disk", func(t *testing.T) {
		p, blob, conns := pulled(t)
		bad := bytes.Clone(module)
		bad[len(bad)/2] ^= 0xff // same size: only the hash can tell
		if err := os.WriteFile(blob, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		wantFail(t, zoo(t, append(p.env, "ZOO_OFFLINE=1"), "generate", storeModelID, "-n", "1", "-o", out), 1,
			"damaged", "has sha256", "zoo pull "+storeModelID)
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Fatalf("generate from a damaged blob wrote %d files", len(ents))
		}
		before := conns.Load()
		mustOK(t, p.pull(t))
		if sha256FileNoT(blob) != sum || conns.Load() == before {
			t.Fatal("pull did not replace the damaged blob with a fresh download")
		}
	})

	t.Run("cache-blob-truncated-on-disk", func(t *testing.T) {
		p, blob, _ := pulled(t)
		os.WriteFile(blob, module[:100], 0o644)
		wantFail(t, zoo(t, append(p.env, "ZOO_OFFLINE=1"), "pull", storeModelID), 1,
			"damaged", fmt.Sprintf("has 100 bytes, the catalog says %d", size))
	})

	plant := func(t *testing.T, p *hostilePull, rel, target string) string {
		t.Helper()
		link := filepath.Join(p.cache, rel)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	for _, sub := range []string{"tmp", "blobs", "locks", "unpacked"} {
		for _, kind := range []string{"file", "dir"} {
			t.Run("symlink-"+sub+"-dir-to-"+kind, func(t *testing.T) {
				url, _ := countingServer(t, module)
				format := "torchscript"
				artifact, artSum := url+"/m.pt", sum
				if sub == "unpacked" {
					// Only archives are unpacked: a package zip.
					zipData := zipOf(t, []zipEntry{{name: "pkg/model.pt", body: []byte("weights")}})
					artifact = filepath.Join(t.TempDir(), "pkg.zip")
					os.WriteFile(artifact, zipData, 0o644)
					artSum, format = sha256Hex(zipData), "python-package"
				}
				p := newHostilePullFormat(t, artifact, artSum, 0, format)
				target := p.victim
				if kind == "file" {
					target = filepath.Join(p.victim, "victim.txt")
				}
				link := plant(t, p, sub, target)
				r := p.pull(t)
				want := []string{link + " is a symbolic link", "never writes through links", "rm " + link}
				if sub != "unpacked" {
					p.refused(t, r, 1, want...)
					return
				}
				// The package's verified blob may stay cached; only the
				// unpacking is refused.
				wantFail(t, r, 1, want...)
				unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
				p.cleanStderr(t, r)
			})
		}
	}
	t.Run("symlink-blob-to-victim-file", func(t *testing.T) {
		url, _ := countingServer(t, module)
		p := newHostilePull(t, url+"/m.pt", sum, size)
		link := plant(t, p, filepath.Join("blobs", "sha256-"+sum), filepath.Join(p.victim, "victim.txt"))
		wantFail(t, zoo(t, append(p.env, "ZOO_OFFLINE=1"), "pull", storeModelID), 1, "damaged", "symbolic link")
		mustOK(t, p.pull(t))
		unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
		if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() || sha256FileNoT(link) != sum {
			t.Fatalf("the planted link was not replaced by a verified blob (%v)", err)
		}
	})
	t.Run("symlink-lock-file-dangling", func(t *testing.T) {
		url, _ := countingServer(t, module)
		p := newHostilePull(t, url+"/m.pt", sum, size)
		lock := plant(t, p, filepath.Join("locks", "sha256-"+sum+".lock"), filepath.Join(p.victim, "created-by-zoo"))
		p.refused(t, p.pull(t), 1, lock, "symbolic link")
	})
	t.Run("symlink-tmp-entry-of-dead-process", func(t *testing.T) {
		// A link in tmp/ named like a leftover: the sweep removes the link,
		// never what it points at.
		url, _ := countingServer(t, module)
		p := newHostilePull(t, url+"/m.pt", sum, size)
		plant(t, p, filepath.Join("tmp", "sha256-"+sum+".123"), p.victim)
		mustOK(t, p.pull(t))
		unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
		if ents, _ := os.ReadDir(filepath.Join(p.cache, "tmp")); len(ents) != 0 {
			t.Fatalf("tmp/ keeps %d entries", len(ents))
		}
	})

	t.Run("concurrent-pulls-two-processes", func(t *testing.T) {
		var gets atomic.Int32
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			gets.Add(1)
			w.Header().Set("Content-Length", strconv.Itoa(len(module)))
			step := (len(module) + 9) / 10
			for i := 0; i < len(module); i += step {
				w.Write(module[i:min(i+step, len(module))])
				w.(http.Flusher).Flush()
				time.Sleep(60 * time.Millisecond)
			}
		})
		p := newHostilePull(t, url+"/m.pt", sum, size)
		var cmds [2]*exec.Cmd
		var outs [2]bytes.Buffer
		for i := range cmds {
			cmds[i] = exec.Command(zooBin, "pull", storeModelID)
			cmds[i].Env = append(os.Environ(), append([]string{"ZOO_OFFLINE="}, p.env...)...)
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("pull %d: %v\n%s", i, err, outs[i].String())
			}
		}
		blobs, _ := os.ReadDir(filepath.Join(p.cache, "blobs"))
		tmp, _ := os.ReadDir(filepath.Join(p.cache, "tmp"))
		if len(blobs) != 1 || len(tmp) != 0 || gets.Load() != 1 {
			t.Fatalf("two pulls left %d blobs and %d tmp entries after %d downloads; want 1, 0, 1", len(blobs), len(tmp), gets.Load())
		}
		if sha256FileNoT(filepath.Join(p.cache, "blobs", blobs[0].Name())) != sum {
			t.Fatal("the one cache entry is not the artifact")
		}
	})

	t.Run("sigkill-during-download-then-repull", func(t *testing.T) {
		started := make(chan struct{}, 1)
		hang := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(module)))
			w.Write(module[:len(module)/2])
			w.(http.Flusher).Flush()
			select {
			case started <- struct{}{}:
			default:
			}
			<-r.Context().Done()
		})
		p := newHostilePull(t, hang+"/m.pt", sum, size)
		cmd := exec.Command(zooBin, "pull", storeModelID)
		cmd.Env = append(os.Environ(), append([]string{"ZOO_OFFLINE="}, p.env...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("the pull never reached the server")
		}
		deadline := time.Now().Add(10 * time.Second)
		for tmpBytes(p.cache) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if ents, _ := os.ReadDir(filepath.Join(p.cache, "blobs")); len(ents) != 0 {
			t.Fatalf("the killed pull left %d blobs", len(ents))
		}
		good := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(module) })
		env := append(append([]string{}, p.env...), "ZOO_CATALOG="+storeCatalog(t, good+"/m.pt", sum, size, "torchscript"))
		mustOK(t, zoo(t, env, "pull", storeModelID))
		if ents, _ := os.ReadDir(filepath.Join(p.cache, "tmp")); len(ents) != 0 {
			t.Fatalf("the re-pull left %d tmp entries of the killed one", len(ents))
		}
		if sha256FileNoT(filepath.Join(p.cache, "blobs", "sha256-"+sum)) != sum {
			t.Fatal("the re-pull did not cache the artifact")
		}
	})
}

// tmpBytes is how many bytes lie in files under cache/tmp.
func tmpBytes(cache string) int64 {
	var n int64
	filepath.WalkDir(filepath.Join(cache, "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// ---- archives ----

type zipEntry struct {
	name    string
	body    []byte
	mode    fs.FileMode // 0: a regular 0644 file
	declare uint64      // >0: a raw entry whose header declares this size
	method  uint16      // with declare: the method written in the header
	badCRC  bool
}

func zipOf(t *testing.T, ents []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		if e.declare > 0 || e.badCRC {
			var comp bytes.Buffer
			fw, _ := flate.NewWriter(&comp, flate.BestCompression)
			fw.Write(e.body)
			fw.Close()
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(e.body),
				CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(len(e.body))}
			if e.declare > 0 {
				h.UncompressedSize64 = e.declare
			}
			if e.method != 0 {
				h.Method = e.method
			}
			if e.badCRC {
				h.CRC32 ^= 0xdeadbeef
			}
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(comp.Bytes())
			continue
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		} else {
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// overlapZip is an overlapping zip bomb: one deflated kernel stored once
// and n central directory entries pointing at it. Every size and CRC is
// true; only the shared bytes give it away.
func overlapZip(kernel []byte, n int) []byte {
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(kernel)
	fw.Close()
	le := binary.LittleEndian
	var out []byte
	header := func(central bool, name string) {
		if central {
			out = le.AppendUint32(out, 0x02014b50)
			out = le.AppendUint16(out, 20)
		} else {
			out = le.AppendUint32(out, 0x04034b50)
		}
		out = le.AppendUint16(out, 20)
		out = le.AppendUint16(out, 0)
		out = le.AppendUint16(out, zip.Deflate)
		out = le.AppendUint32(out, 0)
		out = le.AppendUint32(out, crc32.ChecksumIEEE(kernel))
		out = le.AppendUint32(out, uint32(comp.Len()))
		out = le.AppendUint32(out, uint32(len(kernel)))
		out = le.AppendUint16(out, uint16(len(name)))
		out = le.AppendUint16(out, 0)
		if central {
			out = append(out, make([]byte, 6)...) // comment length, disk, internal attributes
			out = le.AppendUint32(out, 0)         // external attributes
			out = le.AppendUint32(out, 0)         // every entry at offset 0
		}
		out = append(out, name...)
	}
	header(false, "kernel")
	out = append(out, comp.Bytes()...)
	cd := len(out)
	for i := range n {
		header(true, fmt.Sprintf("bomb/%04d.bin", i))
	}
	cdLen := len(out) - cd
	out = le.AppendUint32(out, 0x06054b50)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint16(out, uint16(n))
	out = le.AppendUint16(out, uint16(n))
	out = le.AppendUint32(out, uint32(cdLen))
	out = le.AppendUint32(out, uint32(cd))
	out = le.AppendUint16(out, 0)
	return out
}

type archiveCase struct {
	name  string
	data  func(t *testing.T) []byte
	wants []string
}

func archiveCases() []archiveCase {
	entries := func(ents ...zipEntry) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return zipOf(t, ents) }
	}
	ok := zipEntry{name: "pkg/__init__.py", body: []byte("# package\n")}
	return []archiveCase{
		{"zip-dotdot-traversal", entries(ok, zipEntry{name: "../../evil.txt", body: []byte("x")}),
			[]string{`"../../evil.txt"`, `".." component`, "outside the unpack directory"}},
		{"zip-nested-dotdot", entries(zipEntry{name: "pkg/a/../../../evil.txt", body: []byte("x")}),
			[]string{"pkg/a/../../../evil.txt", `".."`}},
		{"zip-backslash-traversal", entries(zipEntry{name: `..\..\evil.txt`, body: []byte("x")}),
			[]string{"evil.txt", `".."`}},
		{"zip-absolute-path", entries(zipEntry{name: "/tmp/evil.txt", body: []byte("x")}),
			[]string{`"/tmp/evil.txt"`, "absolute path"}},
		{"zip-drive-letter-path", entries(zipEntry{name: "C:/evil.txt", body: []byte("x")}),
			[]string{"C:/evil.txt", "absolute path"}},
		{"zip-symlink-entry", entries(ok, zipEntry{name: "pkg/link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}),
			[]string{`"pkg/link"`, "symbolic link"}},
		{"zip-fifo-entry", entries(zipEntry{name: "pkg/pipe", mode: fs.ModeNamedPipe | 0o644}),
			[]string{`"pkg/pipe"`, "not a regular file"}},
		{"zip-device-entry", entries(zipEntry{name: "pkg/disk", mode: fs.ModeDevice | 0o644}),
			[]string{`"pkg/disk"`, "not a regular file"}},
		{"zip-duplicate-entry", entries(zipEntry{name: "pkg/a.py", body: []byte("1")}, zipEntry{name: "pkg/./a.py", body: []byte("2")}),
			[]string{`"pkg/./a.py"`, "appears more than once"}},
		{"zip-too-many-entries", func(t *testing.T) []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for i := range 100_001 {
				if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("e/%06d", i), Method: zip.Store}); err != nil {
					t.Fatal(err)
				}
			}
			zw.Close()
			return buf.Bytes()
		}, []string{"has 100001 entries, more than the limit of 100000"}},
		{"zip-deep-directory-chain", entries(zipEntry{name: strings.Repeat("deep/", 200) + "f.py", body: []byte("x")}),
			[]string{"nested 201 directories deep, more than the limit of 32"}},
		{"zip-long-entry-name", entries(zipEntry{name: strings.Repeat("n", 4000) + ".py", body: []byte("x")}),
			[]string{"(4003 bytes)", "name of 4003 bytes, more than the limit of 1024"}},
		{"zip-huge-declared-size", entries(zipEntry{name: "pkg/huge.bin", body: []byte("small"), declare: 16 << 30}),
			[]string{`"pkg/huge.bin"`, "17179869184", "decompression bomb"}},
		{"zip-sum-of-sizes-over-cap", entries(
			zipEntry{name: "pkg/a.bin", body: []byte("a"), declare: 5 << 30},
			zipEntry{name: "pkg/b.bin", body: []byte("b"), declare: 5 << 30}),
			[]string{`"pkg/b.bin"`, "more than the limit of 8589934592 bytes", "decompression bomb"}},
		{"zip-lying-header", entries(zipEntry{name: "pkg/liar.bin", body: make([]byte, 4<<20), declare: 100}),
			[]string{`"pkg/liar.bin"`, "more data than its header declares"}},
		{"zip-overlapping-entries", func(t *testing.T) []byte { return overlapZip(make([]byte, 10<<20), 250) },
			[]string{`"bomb/0000.bin"`, `"bomb/0001.bin"`, "overlap", "share stored bytes"}},
		{"zip-crc-mismatch", entries(zipEntry{name: "pkg/bad.py", body: []byte("print(1)\n"), badCRC: true}),
			[]string{`"pkg/bad.py"`, "CRC mismatch"}},
		{"zip-unknown-method", entries(zipEntry{name: "pkg/odd.bin", body: []byte("x"), declare: 1, method: 99}),
			[]string{`"pkg/odd.bin"`, "unsupported compression algorithm"}},
		{"zip-not-a-zip", func(t *testing.T) []byte { return []byte("this is not a zip archive at all\n") },
			[]string{"is not a readable zip file"}},
		{"zip-empty-file", func(t *testing.T) []byte { return nil }, []string{"is not a readable zip file"}},
		{"zip-truncated", func(t *testing.T) []byte {
			d := zipOf(t, []zipEntry{ok, {name: "pkg/big.bin", body: bytes.Repeat([]byte("abc"), 10000)}})
			return d[:len(d)/2]
		}, []string{"is not a readable zip file"}},
	}
}

// TestHostileArchiveImport feeds each hostile zip to `zoo import --package`:
// refused before any package code runs, with the entry and the reason
// named, no leftovers in $TMPDIR and no catalog written.
func TestHostileArchiveImport(t *testing.T) {
	for _, tc := range archiveCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			arch := filepath.Join(dir, "package.zip")
			if err := os.WriteFile(arch, tc.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			tmp, config := t.TempDir(), t.TempDir()
			roots := []string{dir, tmp, config}
			before := treeState(t, roots...)
			r := zoo(t, []string{"TMPDIR=" + tmp, "ZOO_CONFIG_DIR=" + config}, "import", "--package", arch, "--id", "90011_HOSTILE_ZIP")
			wantFail(t, r, 1, append([]string{"--package " + arch, "nothing was imported"}, tc.wants...)...)
			unchanged(t, before, roots...)
			if len(r.stderr) > 4000 {
				t.Fatalf("the message is %d bytes long", len(r.stderr))
			}
		})
	}
}

// TestHostileArchivePull: the same archives as a catalog's package
// artifact, through `zoo pull`: nothing lands in unpacked/ or stays in tmp/.
func TestHostileArchivePull(t *testing.T) {
	for _, tc := range archiveCases() {
		if tc.name == "zip-too-many-entries" || tc.name == "zip-overlapping-entries" {
			// Covered by import above; spare the CPU a second run of the
			// largest archives.
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			arch := filepath.Join(t.TempDir(), "package.zip")
			if err := os.WriteFile(arch, data, 0o644); err != nil {
				t.Fatal(err)
			}
			p := newHostilePullFormat(t, arch, sha256Hex(data), int64(len(data)), "python-package")
			r := p.pull(t)
			wantFail(t, r, 1, append([]string{storeModelID, arch}, tc.wants...)...)
			unchanged(t, p.before, p.victim, filepath.Dir(p.catalog))
			for _, sub := range []string{"unpacked", "tmp"} {
				if ents, _ := os.ReadDir(filepath.Join(p.cache, sub)); len(ents) != 0 {
					t.Fatalf("a refused archive left %d entries in %s/", len(ents), sub)
				}
			}
		})
	}
}
