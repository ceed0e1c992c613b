package mcp

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// listFilter returns the edit that takes out of a list answer (tools/list, resources/list,
// resources/templates/list) what p's scopes do not let it use, or nil when p may use it all.
//
// A token sees every entry unless a limited grant (a scope's tools or resources in the
// config) is all it has of tools/call or resources/read: then it sees only the tools it may
// call and the resources it may read, so a client never offers one the gate will refuse. A
// token with mcp:tools:read alone still lists every tool, as it always has. The filter is a
// courtesy to clients, not the guard: the gate decides every call and read by name or URI.
func (g *Gateway) listFilter(msg Message, p *principal) resultEdit {
	if msg.Kind != KindRequest {
		return nil
	}
	var f listSpec
	switch msg.Method {
	case "tools/list":
		globs := g.policy.visibleTools(p.Scopes)
		if globs == nil {
			return nil
		}
		f = listSpec{member: "tools", key: "name", keep: func(name string) bool { return toolMatches(globs, name) }}
	case "resources/list":
		prefixes := g.policy.visibleResources(p.Scopes)
		if prefixes == nil {
			return nil
		}
		f = listSpec{member: "resources", key: "uri", keep: func(uri string) bool { return uriUnder(prefixes, uri) }}
	case "resources/templates/list":
		prefixes := g.policy.visibleResources(p.Scopes)
		if prefixes == nil {
			return nil
		}
		f = listSpec{member: "resourceTemplates", key: "uriTemplate", keep: func(t string) bool { return templateUnder(prefixes, t) }}
	default:
		return nil
	}
	method := msg.Method // not msg: a closure holding msg would put it on the heap on every call
	return func(ctx context.Context, result jsontext.Value) jsontext.Value {
		out, err := f.apply(result)
		if err != nil {
			// What cannot be read cannot be shown in part: an empty list, never the whole.
			g.log.WarnContext(ctx, "a list answer could not be filtered; sent empty", "method", method, "err", err)
			return jsontext.Value(`{"` + f.member + `":[]}`)
		}
		return out
	}
}

// templateUnder reports whether every URI a resource template expands to is under one of
// the prefixes: its literal start, up to the first expression, must be. A template that
// could expand to URIs under a prefix and elsewhere is left out; reading one of its URIs
// under the prefix still works.
func templateUnder(prefixes []string, template string) bool {
	head, _, _ := strings.Cut(template, "{")
	for _, prefix := range prefixes {
		if strings.HasPrefix(head, prefix) && !hasDotSegment(head) && !hasEncodedSeparator(head[len(prefix):]) {
			return true
		}
	}
	return false
}

// listSpec says which entries of a list result a token keeps: those of the array member
// whose string key keep accepts.
type listSpec struct {
	member string // "tools"
	key    string // "name"
	keep   func(string) bool
}

var (
	errNotList         = errors.New("the result is not an object with an array of entries")
	errDuplicateMember = errors.New("the result has a duplicate member name")
)

// apply returns result without the entries the spec does not keep, or nil when it keeps
// them all. Every other member of the result (nextCursor, _meta) and every kept entry is
// copied as it came, bar whitespace between members. An entry whose key is missing, not a
// string, duplicated or present in another case (a case-insensitive decoder would read that
// one) is dropped; a member named like the list in another case is dropped too. A duplicate
// member name in the result, or a list that is not an array, is an error.
func (f listSpec) apply(result jsontext.Value) (jsontext.Value, error) {
	// dec checks the whole result (JSON syntax, UTF-8) as it reads it, so what it returns is
	// copied as raw bytes and not checked again. Duplicate names are looked for where they
	// would let the filter read one list or key and a client another: among the result's
	// members (here) and an entry's key (entryReader). Tracking every name at every depth
	// would cost more than the rest of the filter (BenchmarkListFilter), and a duplicate
	// inside a kept entry's schema changes nothing the filter decided.
	dec := jsontext.NewDecoder(bytes.NewReader(result), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errNotList
	}
	var names []string // the result's member names so far: a handful
	out := make([]byte, 0, len(result))
	out = append(out, '{')
	dropped, first := false, true
	member := func(name string) (err error) {
		if !first {
			out = append(out, ',')
		}
		first = false
		out, err = jsontext.AppendQuote(out, name)
		out = append(out, ':')
		return err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		if slices.Contains(names, name) {
			return nil, errDuplicateMember
		}
		names = append(names, name)
		switch {
		case name == f.member:
			if err := member(name); err != nil {
				return nil, err
			}
			var d bool
			if out, d, err = f.filterArray(dec, result, out); err != nil {
				return nil, err
			}
			dropped = dropped || d
		case strings.EqualFold(name, f.member):
			if _, err := dec.ReadValue(); err != nil {
				return nil, err
			}
			dropped = true
		default:
			v, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			if err := member(name); err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err == nil {
		return nil, errNotList // trailing data
	}
	if !dropped {
		return nil, nil
	}
	return jsontext.Value(append(out, '}')), nil
}

// filterArray appends to out the array the decoder is at, keeping the entries f keeps, and
// reports whether it dropped any. src is the decoder's whole input: each entry is read once,
// member by member, and a kept one is copied from src as it came.
func (f listSpec) filterArray(dec *jsontext.Decoder, src, out []byte) ([]byte, bool, error) {
	if dec.PeekKind() != '[' {
		return out, false, errNotList
	}
	if _, err := dec.ReadToken(); err != nil {
		return out, false, err
	}
	out = append(out, '[')
	dropped, first := false, true
	for dec.PeekKind() != ']' {
		start := dec.InputOffset()
		key, ok, err := f.entryKey(dec)
		if err != nil {
			return out, false, err
		}
		if ok && f.keep(key) {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, bytes.TrimLeft(src[start:dec.InputOffset()], " \t\r\n,")...)
		} else {
			dropped = true
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return out, false, err
	}
	return append(out, ']'), dropped, nil
}

// entryKey reads one entry and returns its string member f.key, if it is an object with
// exactly one member of that name in any case and that member is a string. err is only
// for input that is not JSON.
func (f listSpec) entryKey(dec *jsontext.Decoder) (string, bool, error) {
	if dec.PeekKind() != '{' {
		return "", false, dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", false, err
	}
	var (
		val       string
		found, ok = false, true
	)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return "", false, err
		}
		name := tok.String()
		switch {
		case name == f.key && !found && dec.PeekKind() == '"':
			v, err := dec.ReadToken()
			if err != nil {
				return "", false, err
			}
			val, found = v.String(), true
			continue
		case strings.EqualFold(name, f.key):
			ok = false
		}
		if err := dec.SkipValue(); err != nil {
			return "", false, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", false, err
	}
	return val, ok && found, nil
}
