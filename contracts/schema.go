package contracts

import (
	"embed"
	"io/fs"
)

// schemaFiles holds the JSON Schemas (draft 2020-12) of the protocol, for
// systems that do not use this package: the envelope, the consent object,
// shared definitions and one body schema per kind ("<kind>.schema.json").
// A test keeps them in agreement with the Go validation.
//
//go:embed schema/*.schema.json
var schemaFiles embed.FS

// SchemaFS is the protocol's JSON Schemas, at the root of the file system
// ("envelope.schema.json", "consent.schema.json", "defs.schema.json",
// "referral.request.schema.json", ...). Their $id values share the base
// SchemaBaseURI, so relative $refs resolve among them.
var SchemaFS fs.FS = mustSub(schemaFiles, "schema")

// SchemaBaseURI is the common prefix of the schemas' $id values.
const SchemaBaseURI = "https://github.com/relais-hub/relais/contracts/schema/"

// BodySchemaName is the file name, in SchemaFS, of a kind's body schema.
func BodySchemaName(kind string) string { return kind + ".schema.json" }

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic("contracts: embedded schema directory: " + err.Error())
	}
	return sub
}
