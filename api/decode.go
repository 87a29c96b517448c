package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeSubmit reads the body of a submit or alter, {"task":{...}}, strictly. encoding/json alone
// would accept what an operator did not mean: it matches keys case-insensitively ("Kafka"), keeps
// the last of two equal keys, and names an unknown field without its path. Here every key must
// be spelt as documented and appear once, every value must have its field's type, and errors are
// -400 *Error values naming the whole field path: "task.kafka.addr: duplicate key",
// `task.Kafka: unknown field (did you mean "kafka"?)`. Values are not validated (Validate does
// that).
//
// The dispatcher, `dts task submit/alter -f` and `dts worker --task-file` all read tasks through
// this decoder (DecodeTaskFile for files), so a spec means the same everywhere.
func DecodeSubmit(r io.Reader) (*TaskSpec, error) {
	return decode(r, false)
}

// DecodeTaskFile reads a task file: a submit body, or the bare task object ({"source":...}), with
// DecodeSubmit's rules. Paths in errors start with "task" either way.
func DecodeTaskFile(r io.Reader) (*TaskSpec, error) {
	return decode(r, true)
}

var (
	typeSubmit     = reflect.TypeFor[SubmitRequest]()
	typeTaskSpec   = reflect.TypeFor[TaskSpec]()
	typeStringList = reflect.TypeFor[StringList]()
)

func decode(r io.Reader, bare bool) (*TaskSpec, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read task: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, FieldError("body", "is empty; send {\"task\":{...}}")
	}
	// encoding/json would turn invalid bytes into U+FFFD silently, changing a name.
	if !utf8.Valid(b) {
		return nil, FieldError("body", "is not valid UTF-8")
	}
	root, path := typeSubmit, ""
	if bare && !hasTaskKey(b) {
		root, path = typeTaskSpec, "task"
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	w := walker{d: d}
	tok, err := w.token()
	if err != nil {
		return nil, err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, FieldError("body", "must be an object, got %s", describeToken(tok))
	}
	if err := w.object(path, root); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, FieldError("body", "has data after the JSON object")
	}

	// The walk checked every key and type, so this decodes what it saw.
	var spec *TaskSpec
	if root == typeSubmit {
		var req SubmitRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, FieldError("body", "is not a valid request: %v", err)
		}
		spec = req.Task
	} else {
		spec = new(TaskSpec)
		if err := json.Unmarshal(b, spec); err != nil {
			return nil, FieldError("task", "is not a valid task: %v", err)
		}
	}
	if spec == nil {
		return nil, FieldError("task", "is required")
	}
	return spec, nil
}

// hasTaskKey reports whether b is an object with a "task" key, spelt exactly.
func hasTaskKey(b []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return false
	}
	_, ok := top["task"]
	return ok
}

// walker checks a JSON document token by token against a Go type.
type walker struct {
	d *json.Decoder
}

// token reads the next token; a syntax error names the byte it is at.
func (w *walker) token() (json.Token, error) {
	tok, err := w.d.Token()
	if err == nil {
		return tok, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return nil, FieldError("body", "is not valid JSON (at byte %d: %v)", syn.Offset, syn)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, FieldError("body", "is not valid JSON (it ends too early)")
	}
	return nil, FieldError("body", "is not valid JSON: %v", err)
}

// value checks the value that starts with tok against t.
func (w *walker) value(path string, t reflect.Type, field reflect.StructField, tok json.Token) error {
	if tok == nil {
		return nil // null leaves the field as it is, as encoding/json does
	}
	if t.Kind() == reflect.Pointer {
		return w.value(path, t.Elem(), field, tok)
	}
	if t == typeStringList {
		if _, ok := tok.(string); ok {
			return nil
		}
		return w.list(path, t, field, tok)
	}
	switch t.Kind() {
	case reflect.Struct:
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return typeError(path, "an object", tok)
		}
		return w.object(path, t)
	case reflect.Slice:
		return w.list(path, t, field, tok)
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return typeError(path, "a string", tok)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return typeError(path, "true or false", tok)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return integer(path, t, field, tok)
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return typeError(path, "a number", tok)
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return FieldError(path, "must be a number, got %s", n)
		}
	default:
		return w.skip(tok) // a type the spec does not constrain
	}
	return nil
}

// object checks the members of an object whose '{' was read.
func (w *walker) object(path string, t reflect.Type) error {
	fields := jsonFields(t)
	seen := make(map[string]bool)
	for w.d.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		kpath := key
		if path != "" {
			kpath = path + "." + key
		}
		f, known := fields[key]
		if !known {
			for name := range fields {
				if strings.EqualFold(name, key) {
					return FieldError(kpath, "unknown field (did you mean %q?)", name)
				}
			}
			return FieldError(kpath, "unknown field")
		}
		if seen[key] {
			return FieldError(kpath, "duplicate key")
		}
		seen[key] = true
		vtok, err := w.token()
		if err != nil {
			return err
		}
		if err := w.value(kpath, f.Type, f, vtok); err != nil {
			return err
		}
	}
	_, err := w.token() // '}'
	return err
}

// list checks an array whose first token is tok.
func (w *walker) list(path string, t reflect.Type, field reflect.StructField, tok json.Token) error {
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return typeError(path, "a list", tok)
	}
	for i := 0; w.d.More(); i++ {
		etok, err := w.token()
		if err != nil {
			return err
		}
		if err := w.value(fmt.Sprintf("%s[%d]", path, i), t.Elem(), field, etok); err != nil {
			return err
		}
	}
	_, err := w.token() // ']'
	return err
}

// skip consumes the rest of a value whose first token is tok.
func (w *walker) skip(tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok || d == '}' || d == ']' {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := w.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// integer checks a whole number against the range of t, or the narrower one the field's tags
// give: `min:"1"` raises the bottom, and `zero:"..."` says what 0 (or absence) means when 0 is
// allowed below min.
func integer(path string, t reflect.Type, field reflect.StructField, tok json.Token) error {
	n, ok := tok.(json.Number)
	if !ok {
		return typeError(path, "an integer", tok)
	}
	v, ok := new(big.Int).SetString(string(n), 10)
	if !ok {
		return FieldError(path, "must be an integer, got %s", n)
	}
	var lo, hi *big.Int
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		lo, hi = big.NewInt(0), new(big.Int).SetUint64(math.MaxUint64>>(64-t.Bits()))
	} else {
		lo, hi = big.NewInt(math.MinInt64>>(64-t.Bits())), big.NewInt(math.MaxInt64>>(64-t.Bits()))
	}
	zero := field.Tag.Get("zero")
	if m := field.Tag.Get("min"); m != "" {
		lo.SetString(m, 10)
	}
	if zero != "" && v.Sign() == 0 {
		return nil
	}
	if v.Cmp(lo) >= 0 && v.Cmp(hi) <= 0 {
		return nil
	}
	if zero != "" {
		return FieldError(path, "must be between %s and %s (0 or absent: %s), got %s", lo, hi, zero, n)
	}
	return FieldError(path, "must be between %s and %s, got %s", lo, hi, n)
}

func typeError(path, want string, tok json.Token) error {
	return FieldError(path, "must be %s, got %s", want, describeToken(tok))
}

// describeToken names the JSON type of the value a token starts.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "a JSON array"
		}
		return "a JSON object"
	case string:
		return "a JSON string"
	case json.Number:
		return "a JSON number"
	case bool:
		return "a JSON boolean"
	}
	return "JSON null"
}

// jsonFields maps the JSON names of t's fields, as encoding/json names them, to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}
