// Package httpapi serves Atelier's HTTP API: the native /v1 routes, the
// OneAccess-compatible /api/v2 identity routes and the operational endpoints
// (/healthz, /readyz, /metrics, /openapi.json).
//
// Every route is one entry of a single table (route.go): the router is built
// from it and so is the OpenAPI document, so the two cannot disagree. Object
// paths (/v1/obs/...) are dispatched by hand from the escaped path, because
// http.ServeMux cleans paths and object keys may hold "//".
//
// The package holds the only table from atelier.Kind to HTTP status
// (error.go). It talks to the domain only through the root service
// interfaces; it never imports a store or a backend.
package httpapi
