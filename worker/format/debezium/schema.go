package debezium

import (
	"strconv"

	"github.com/dtsrepl/dts/worker/encode"
)

// schema is a Kafka Connect schema as JsonConverter writes it with schemas.enable=true
// (JsonConverter.asJsonSchema): type, then a struct's fields or a map's keys and values,
// optional, name, version, doc, parameters, default; a struct field adds its "field" last.
type schema struct {
	typ        string
	fields     []field
	items      *schema
	keys, vals *schema
	optional   bool
	name       string
	version    int
	doc        string
	params     [][2]string
	def        string // the default, as JSON
}

type field struct {
	name string
	s    schema
}

func (s schema) append(dst []byte, fieldName string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, s.typ...)
	dst = append(dst, '"')
	if s.typ == "struct" {
		dst = append(dst, `,"fields":[`...)
		for i, f := range s.fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = f.s.append(dst, f.name)
		}
		dst = append(dst, ']')
	}
	if s.items != nil {
		dst = s.items.append(append(dst, `,"items":`...), "")
	}
	if s.keys != nil {
		dst = s.keys.append(append(dst, `,"keys":`...), "")
		dst = s.vals.append(append(dst, `,"values":`...), "")
	}
	dst = append(dst, `,"optional":`...)
	dst = strconv.AppendBool(dst, s.optional)
	if s.name != "" {
		dst = encode.AppendString(append(dst, `,"name":`...), s.name)
	}
	if s.version != 0 {
		dst = strconv.AppendInt(append(dst, `,"version":`...), int64(s.version), 10)
	}
	if s.doc != "" {
		dst = encode.AppendString(append(dst, `,"doc":`...), s.doc)
	}
	if len(s.params) > 0 {
		dst = append(dst, `,"parameters":{`...)
		for i, p := range s.params {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = encode.AppendString(dst, p[0])
			dst = append(dst, ':')
			dst = encode.AppendString(dst, p[1])
		}
		dst = append(dst, '}')
	}
	if s.def != "" {
		dst = append(append(dst, `,"default":`...), s.def...)
	}
	if fieldName != "" {
		dst = encode.AppendString(append(dst, `,"field":`...), fieldName)
	}
	return append(dst, '}')
}

func prim(typ string, optional bool) schema { return schema{typ: typ, optional: optional} }

// sourceSchema is io.debezium.connector.mysql.Source: the common source fields
// (SchemaFactory.sourceInfoSchemaBuilder) and the binlog connector's
// (BinlogSourceInfoStructMaker).
func sourceSchema() schema {
	return schema{typ: "struct", name: "io.debezium.connector.mysql.Source", version: 1, fields: []field{
		{"version", prim("string", false)},
		{"connector", prim("string", false)},
		{"name", prim("string", false)},
		{"ts_ms", prim("int64", false)},
		{"snapshot", schema{typ: "string", optional: true, name: "io.debezium.data.Enum", version: 1,
			params: [][2]string{{"allowed", "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}}, def: `"false"`}},
		{"db", prim("string", false)},
		{"sequence", prim("string", true)},
		{"ts_us", prim("int64", true)},
		{"ts_ns", prim("int64", true)},
		{"table", prim("string", true)},
		{"server_id", prim("int64", false)},
		{"gtid", prim("string", true)},
		{"file", prim("string", false)},
		{"pos", prim("int64", false)},
		{"row", prim("int32", false)},
		{"thread", prim("int64", true)},
		{"query", prim("string", true)},
	}}
}

// transactionSchema is the envelope's transaction block (SchemaFactory.transactionBlockSchema).
func transactionSchema() schema {
	return schema{typ: "struct", optional: true, name: "event.block", version: 1, fields: []field{
		{"id", prim("string", false)},
		{"total_order", prim("int64", false)},
		{"data_collection_order", prim("int64", false)},
	}}
}

// envelopeSchema is a table's change event value schema (TableSchemaBuilder.create and
// SchemaFactory.datatypeEnvelopeSchema): before and after of the table's Value schema, source,
// transaction, op and the processing timestamps.
func envelopeSchema(prefix string, value schema) schema {
	value.optional = true
	value.name = prefix + ".Value"
	return schema{typ: "struct", name: prefix + ".Envelope", version: 2, fields: []field{
		{"before", value},
		{"after", value},
		{"source", sourceSchema()},
		{"transaction", transactionSchema()},
		{"op", prim("string", false)},
		{"ts_ms", prim("int64", true)},
		{"ts_us", prim("int64", true)},
		{"ts_ns", prim("int64", true)},
	}}
}

// schemaChangeKeySchema and schemaChangeValueSchema are the schema change topic's
// (SchemaFactory.schemaHistoryConnectorKeySchema and schemaHistoryConnectorValueSchema).
func schemaChangeKeySchema() schema {
	return schema{typ: "struct", name: "io.debezium.connector.mysql.SchemaChangeKey", version: 1, fields: []field{
		{"databaseName", prim("string", false)},
	}}
}

func schemaChangeValueSchema() schema {
	str := prim("string", false)
	column := schema{typ: "struct", name: "io.debezium.connector.schema.Column", version: 1, fields: []field{
		{"name", str},
		{"jdbcType", prim("int32", false)},
		{"nativeType", prim("int32", true)},
		{"typeName", str},
		{"typeExpression", prim("string", true)},
		{"charsetName", prim("string", true)},
		{"length", prim("int32", true)},
		{"scale", prim("int32", true)},
		{"position", prim("int32", false)},
		{"optional", prim("boolean", true)},
		{"autoIncremented", prim("boolean", true)},
		{"generated", prim("boolean", true)},
		{"comment", prim("string", true)},
		{"defaultValueExpression", prim("string", true)},
		{"enumValues", schema{typ: "array", optional: true, items: &str}},
	}}
	table := schema{typ: "struct", optional: true, name: "io.debezium.connector.schema.Table", version: 1, fields: []field{
		{"defaultCharsetName", prim("string", true)},
		{"primaryKeyColumnNames", schema{typ: "array", optional: true, items: &str}},
		{"columns", schema{typ: "array", items: &column}},
		{"comment", prim("string", true)},
	}}
	change := schema{typ: "struct", name: "io.debezium.connector.schema.Change", version: 1, fields: []field{
		{"type", str},
		{"id", str},
		{"table", table},
	}}
	return schema{typ: "struct", name: "io.debezium.connector.mysql.SchemaChangeValue", version: 1, fields: []field{
		{"source", sourceSchema()},
		{"ts_ms", prim("int64", false)},
		{"databaseName", prim("string", true)},
		{"schemaName", prim("string", true)},
		{"ddl", prim("string", true)},
		{"tableChanges", schema{typ: "array", items: &change}},
	}}
}
