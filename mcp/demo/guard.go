package demo

import (
	"errors"
	"strings"
)

// Errors returned by checkQuery. They are the first (cheapest, friendliest)
// read-only layer; the SQLite authorizer and query_only pragma still apply to
// whatever gets past them.
var (
	errEmptyQuery     = errors.New("query is empty")
	errNotSelect      = errors.New("only read-only SELECT (or WITH ... SELECT) statements are allowed")
	errMultiStatement = errors.New("only a single statement is allowed; remove everything after the first ';'")
	errQueryTooLong   = errors.New("query is too long (limit 64 KiB)")
)

// checkQuery accepts exactly one statement whose first keyword is SELECT or
// WITH. It understands SQLite comments, string literals and quoted
// identifiers, so a ';' inside them does not count as a separator. It does
// not try to parse SQL: a WITH clause that wraps a DELETE passes here and is
// refused by the authorizer instead.
func checkQuery(q string) error {
	if len(q) > maxSQLBytes {
		return errQueryTooLong
	}
	rest := skipSpaceAndComments(q)
	if rest == "" {
		return errEmptyQuery
	}
	kw := leadingWord(rest)
	if !strings.EqualFold(kw, "SELECT") && !strings.EqualFold(kw, "WITH") {
		return errNotSelect
	}
	end := statementEnd(rest)
	if end < len(rest) {
		// Only whitespace, comments and further ';' may follow.
		tail := rest[end:]
		for tail != "" {
			tail = skipSpaceAndComments(tail)
			if tail == "" {
				break
			}
			if tail[0] != ';' {
				return errMultiStatement
			}
			tail = tail[1:]
		}
	}
	return nil
}

// leadingWord returns the identifier-like prefix of s.
func leadingWord(s string) string {
	i := 0
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return s[:i]
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}

// skipSpaceAndComments drops leading whitespace, "-- ..." and "/* ... */".
func skipSpaceAndComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return "" // SQLite treats an unterminated comment as running to the end
			}
			s = s[2+i+2:]
		default:
			return s
		}
	}
}

// statementEnd returns the index of the first ';' that is outside any
// comment, string or quoted identifier, or len(s) if there is none.
func statementEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ';':
			return i
		case '\'', '"', '`':
			i = closingQuote(s, i, c)
		case '[':
			if j := strings.IndexByte(s[i:], ']'); j >= 0 {
				i += j
			} else {
				return len(s)
			}
		case '-', '/':
			if rest := skipSpaceAndComments(s[i:]); len(rest) != len(s[i:]) {
				i = len(s) - len(rest) - 1
			}
		}
	}
	return len(s)
}

// closingQuote returns the index of the quote closing the literal that opens
// at s[start]; a doubled quote is an escaped quote. An unterminated literal
// runs to the end (SQLite will then report the syntax error).
func closingQuote(s string, start int, q byte) int {
	for i := start + 1; i < len(s); i++ {
		if s[i] != q {
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			i++
			continue
		}
		return i
	}
	return len(s)
}
