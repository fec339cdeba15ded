package scan

import (
	"context"
	"strings"

	"github.com/smtpprobe/probe"

	"github.com/emersion/go-sasl"
)

// auth runs AUTH when Options ask for it.
func (r *runner) auth(ctx context.Context) bool {
	if r.o.Username == "" && r.o.AuthMechanism == "" && r.o.SASL == nil {
		return true
	}
	if !r.next(StageAuth) {
		return false
	}
	plan, err := authCall(&r.o, r.c, r.rep.Host)
	if err != nil {
		r.fail(StageAuth, err)
		return false
	}
	p := r.begin(StageAuth)
	reply, err := plan.run(ctx)
	if reply == nil {
		reply = replyOf(err)
	}
	mech := plan.mechanism()
	r.rep.Auth = &AuthResult{Mechanism: mech, Success: err == nil, Reply: reply}
	r.end(p, reply, err)
	r.tr.authDone(mech, reply, err)
	if err != nil {
		r.fail(StageAuth, err)
		return false
	}
	r.reached(StageAuth)
	return true
}

// authPlan is the AUTH to run: the mechanism and the call that runs it.
type authPlan struct {
	mech string        // named by Options; "" for Options.SASL
	sasl *mechRecorder // Options.SASL, recording the mechanism it starts
	run  func(context.Context) (*probe.Reply, error)
}

// mechanism is the mechanism of the plan; for Options.SASL, the one its
// client started (known once run was called), or "" when it started none.
func (p *authPlan) mechanism() string {
	if p.sasl != nil {
		return p.sasl.mech
	}
	return p.mech
}

// mechRecorder is a SASL client that remembers the mechanism it started,
// as Auth sends it: upper case, and only a valid name.
type mechRecorder struct {
	sasl.Client
	mech string
}

func (m *mechRecorder) Start() (string, []byte, error) {
	mech, ir, err := m.Client.Start()
	if up := strings.ToUpper(mech); err == nil && len(up) <= 20 && up != "" && strings.Trim(up, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == "" {
		m.mech = up
	}
	return mech, ir, err
}

// authCall picks the mechanism for AUTH on c with the credentials of o
// and returns the plan that runs it.
func authCall(o *Options, c *probe.Conn, host string) (*authPlan, error) {
	if o.SASL != nil {
		rec := &mechRecorder{Client: o.SASL}
		return &authPlan{sasl: rec, run: func(ctx context.Context) (*probe.Reply, error) { return c.Auth(ctx, rec) }}, nil
	}
	mech := strings.ToUpper(o.AuthMechanism)
	if mech == "" {
		caps := c.Capabilities()
		// The strongest first.
		for _, m := range [...]string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", sasl.Plain, sasl.Login} {
			if caps != nil && caps.SupportsAuth(m) {
				mech = m
				break
			}
		}
		if mech == "" {
			offered := "none"
			if caps != nil && len(caps.Auth) > 0 {
				offered = strings.Join(caps.Auth, " ")
			}
			return nil, &policyError{sentinel: ErrNoAuthMechanism, detail: "offered: " + offered}
		}
	}
	plan := &authPlan{mech: mech}
	switch mech {
	case sasl.Plain:
		plan.run = func(ctx context.Context) (*probe.Reply, error) {
			return c.AuthPlain(ctx, o.Identity, o.Username, o.Password)
		}
	case sasl.Login:
		plan.run = func(ctx context.Context) (*probe.Reply, error) { return c.AuthLogin(ctx, o.Username, o.Password) }
	default:
		client := o.saslClient(mech, host)
		if client == nil {
			return nil, invalidOptions("AuthMechanism %q is not one Run knows; use Options.SASL", o.AuthMechanism)
		}
		plan.run = func(ctx context.Context) (*probe.Reply, error) { return c.Auth(ctx, client) }
	}
	return plan, nil
}

// saslClient returns a client for mech with the credentials of o, or nil.
func (o *Options) saslClient(mech, host string) sasl.Client {
	switch mech {
	case "CRAM-MD5":
		return probe.NewCRAMMD5Client(o.Username, o.Password)
	case "SCRAM-SHA-1":
		return probe.NewSCRAMSHA1Client(o.Username, o.Password)
	case "SCRAM-SHA-256":
		return probe.NewSCRAMSHA256Client(o.Username, o.Password)
	case "XOAUTH2":
		return probe.NewXOAuth2Client(o.Username, o.Password)
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: o.Username, Token: o.Password, Host: host})
	case sasl.External:
		return sasl.NewExternalClient(o.Identity)
	case sasl.Anonymous:
		return sasl.NewAnonymousClient(o.Username)
	}
	return nil
}
