// Package oci moves shareable models to and from OCI registries (a CNCF
// distribution registry, Harbor, GHCR, …) as OCI artifacts, through
// oras.land/oras-go/v2. A model travels as one image manifest with its own
// artifact type: the catalog entry (model.toml) is the config blob, and
// model.pt, LICENSE, README.md and each sample are layers named by their
// org.opencontainers.image.title annotation. Blobs are content-addressed,
// so a pull verifies every byte against the digests the manifest names,
// and a catalog that pins the manifest's digest pins everything in it.
//
// The package knows nothing of catalogs or the zoo store (the store
// imports it to fetch oci:// URLs): it works on references, files and
// descriptors.
package oci

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"medzoo/internal/envconfig"
)

// Media types of a model artifact. They are medzoo's own, so that no
// container runtime mistakes a model for an image, and so that a pull can
// refuse an artifact that is not a model before reading its layers.
const (
	ArtifactType         = "application/vnd.medzoo.model.v1"
	ConfigMediaType      = "application/vnd.medzoo.model.config.v1+toml"
	TorchScriptMediaType = "application/vnd.medzoo.model.torchscript.v1"
	LicenseMediaType     = "application/vnd.medzoo.model.license.v1+text"
	CardMediaType        = "text/markdown"
	SampleMediaType      = "image/png"
)

// Annotations on the manifest (the OCI ones, plus the model id) and on
// each layer (its file name in the model directory).
const (
	AnnotationTitle   = "org.opencontainers.image.title"
	AnnotationVersion = "org.opencontainers.image.version"
	AnnotationLicense = "org.opencontainers.image.licenses"
	AnnotationModelID = "io.medzoo.model.id"
)

// Client talks to registries. The zero value is not ready: use NewClient,
// which reads the logins, then set the fields.
type Client struct {
	// PlainHTTP speaks HTTP instead of HTTPS. It is refused for any host
	// but a loopback one (Ref.Loopback): elsewhere the password and the
	// model would cross the network unprotected.
	PlainHTTP bool
	// Transport carries the requests (nil: a clone of
	// http.DefaultTransport, which trusts the system's roots and
	// SSL_CERT_FILE). The store passes its own, which refuses to dial
	// while offline.
	Transport http.RoundTripper
	// Progress, if set, is called as blobs move, with the blob's name
	// (its file name), the bytes done and the blob's size.
	Progress func(name string, done, total int64)
	// MaxModuleBytes bounds the TorchScript layer (0: MaxModuleBytes).
	MaxModuleBytes int64

	logins []envconfig.Login
	docker credentials.Store
	// dockerPath is the docker config file, for messages.
	dockerPath string
}

// NewClient returns a client with the logins of $ZOO_REGISTRY_AUTH and the
// docker config file ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json, credential helpers included). A bad
// $ZOO_REGISTRY_AUTH is an error that names it (never the password).
func NewClient() (*Client, error) {
	logins, err := envconfig.RegistryAuth()
	if err != nil {
		return nil, err
	}
	c := &Client{logins: logins}
	if dir, err := envconfig.DockerConfigDir(); err == nil {
		c.dockerPath = filepath.Join(dir, "config.json")
		// A missing file is no error (no logins); a damaged one is only
		// reported if a registry asks for a login.
		if st, err := credentials.NewStore(c.dockerPath, credentials.StoreOptions{}); err == nil {
			c.docker = st
		}
	}
	return c, nil
}

// login is the credential for host and where it comes from ("" when none).
func (c *Client) login(ctx context.Context, host string) (auth.Credential, string) {
	var any *envconfig.Login
	for i, l := range c.logins {
		if l.Host == host {
			return auth.Credential{Username: l.User, Password: l.Password}, envconfig.EnvRegistryAuth
		}
		if l.Host == "" {
			any = &c.logins[i]
		}
	}
	if any != nil {
		return auth.Credential{Username: any.User, Password: any.Password}, envconfig.EnvRegistryAuth
	}
	if c.docker != nil {
		if cred, err := c.docker.Get(ctx, credentials.ServerAddressFromRegistry(host)); err == nil && cred != auth.EmptyCredential {
			return cred, c.dockerPath
		}
	}
	return auth.EmptyCredential, ""
}

// repository is the oras client for ref's repository.
func (c *Client) repository(ref Ref) (*remote.Repository, error) {
	if c.PlainHTTP && !ref.Loopback() {
		return nil, fmt.Errorf("%s: plain HTTP is allowed only for a registry on this machine (127.0.0.1, ::1, localhost); "+
			"to %s it would send the password and the model unencrypted and unauthenticated over the network; "+
			"drop --plain-http (and %s) and use the registry's HTTPS address", ref, ref.Host, envconfig.EnvRegistryPlain)
	}
	t := c.Transport
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &remote.Repository{
		Reference: registry.Reference{Registry: ref.Host, Repository: ref.Repo},
		PlainHTTP: c.PlainHTTP,
		Client: &auth.Client{
			Client: &http.Client{Transport: t},
			Header: http.Header{"User-Agent": {"medzoo (zoo push/pull)"}},
			Cache:  auth.NewCache(),
			Credential: func(ctx context.Context, host string) (auth.Credential, error) {
				cred, _ := c.login(ctx, host)
				return cred, nil
			},
		},
	}, nil
}

// explain turns an oras or network error into one that says what happened
// at which registry and what to do. It never includes a password: oras's
// errors carry URLs without credentials, and logins never go into URLs.
func (c *Client) explain(ctx context.Context, ref Ref, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", what, ref, context.Cause(ctx))
	}
	var resp *errcode.ErrorResponse
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound) || errors.As(err, &resp) && resp.StatusCode == http.StatusUnauthorized:
		_, from := c.login(ctx, ref.Host)
		if from == "" {
			return fmt.Errorf("%s %s: the registry asks for a login (HTTP 401) and zoo has none for %s; "+
				"set %s=%s=USER:PASSWORD, or run docker login %s", what, ref, ref.Host, envconfig.EnvRegistryAuth, ref.Host, ref.Host)
		}
		return fmt.Errorf("%s %s: the registry refused the login for %s from %s (HTTP 401: wrong user or password); "+
			"fix the password there (%s=%s=USER:PASSWORD, or docker login %s)", what, ref, ref.Host, from, envconfig.EnvRegistryAuth, ref.Host, ref.Host)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s %s: the registry refuses this user access to %s (HTTP 403); ask its administrator for %s rights",
			what, ref, ref.Repo, map[bool]string{true: "push", false: "pull"}[what == "push"])
	case errors.Is(err, errdef.ErrNotFound) || errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: not found in the registry (no such repository, tag or digest); check the reference", what, ref)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%s %s: the registry's TLS certificate is not signed by an authority this machine trusts (%v); "+
			"if it is your own registry, point SSL_CERT_FILE at its CA certificate", what, ref, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%s %s: the registry's TLS certificate is not for %s (%v)", what, ref, ref.Host, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		hint := "it must serve HTTPS"
		if ref.Loopback() {
			hint = "for a registry on this machine pass --plain-http (the store: " + envconfig.EnvRegistryPlain + "=1)"
		}
		return fmt.Errorf("%s %s: the registry speaks plain HTTP, and zoo uses HTTPS by default; %s", what, ref, hint)
	}
	return fmt.Errorf("%s %s: %w", what, ref, err)
}
