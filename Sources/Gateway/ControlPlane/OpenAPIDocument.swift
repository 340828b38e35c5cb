/// The OpenAPI 3.1 description of both ports, served at `/openapi.json` on the admin port.
/// `OpenAPITests` checks it against the routes the servers actually have.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Catalog gateway",
            "version": "1.0.0",
            "description": "Read-through caching gateway for an e-commerce catalog. Storefront routes are on the data-plane port (default 8080); admin, hook and operations routes on the control-plane port (default 8081). Errors are application/problem+json (RFC 9457)."
          },
          "servers": [
            {"url": "http://localhost:8080", "description": "storefront (data plane): HTTP/1.1 and h2c"},
            {"url": "http://localhost:8081", "description": "admin (control plane)"}
          ],
          "paths": {
            "/v1/categories": {
              "get": {
                "summary": "Every category with its count of active products",
                "responses": {
                  "200": {"description": "The categories", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "Cache-Status": {"$ref": "#/components/headers/Cache-Status"}, "Surrogate-Key": {"$ref": "#/components/headers/Surrogate-Key"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CategoryList"}}}},
                  "304": {"description": "Not modified (If-None-Match matched the ETag)"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/v1/categories/{id}/products": {
              "get": {
                "summary": "A page of a category's active products",
                "parameters": [
                  {"$ref": "#/components/parameters/Id"},
                  {"name": "page", "in": "query", "description": "page × per_page must be at most 10000", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}},
                  {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                  {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["newest", "price_asc", "price_desc"], "default": "newest"}}
                ],
                "responses": {
                  "200": {"description": "The page", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "Cache-Status": {"$ref": "#/components/headers/Cache-Status"}, "Surrogate-Key": {"$ref": "#/components/headers/Surrogate-Key"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CategoryPage"}}}},
                  "304": {"description": "Not modified"},
                  "400": {"$ref": "#/components/responses/Problem"},
                  "404": {"$ref": "#/components/responses/Problem"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/v1/products/{id}": {
              "get": {
                "summary": "One active product",
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {
                  "200": {"description": "The product", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "Cache-Status": {"$ref": "#/components/headers/Cache-Status"}, "Surrogate-Key": {"$ref": "#/components/headers/Surrogate-Key"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                  "304": {"description": "Not modified"},
                  "400": {"$ref": "#/components/responses/Problem"},
                  "404": {"$ref": "#/components/responses/Problem"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/v1/products": {
              "get": {
                "summary": "Up to 100 products by id; ids not found are listed under missing",
                "parameters": [{"name": "ids", "in": "query", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+(,[0-9]+){0,99}$"}, "example": "1,2,3"}],
                "responses": {
                  "200": {"description": "The products found", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "Cache-Status": {"$ref": "#/components/headers/Cache-Status"}, "Surrogate-Key": {"$ref": "#/components/headers/Surrogate-Key"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MultiGet"}}}},
                  "400": {"$ref": "#/components/responses/Problem"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/admin/v1/products": {
              "post": {
                "summary": "Create a product",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProductCreate"}}}},
                "responses": {
                  "201": {"description": "Created and applied everywhere; ETag is the version", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                  "202": {"description": "Committed and durable; MongoDB or the cache not yet updated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pending"}}}},
                  "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
                  "403": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"},
                  "409": {"$ref": "#/components/responses/Problem"}, "413": {"$ref": "#/components/responses/Problem"},
                  "415": {"$ref": "#/components/responses/Problem"}
                }
              },
              "patch": {
                "summary": "Bulk partial update (feeds): up to 1,000 items in one transaction, each with its own status",
                "description": "Each item is {id, optional version, fields to change}. Item statuses: 200 applied, 202 written but not yet applied to MongoDB or the cache, 400 invalid, 404 no such product, 412 version mismatch. Body at most 8 MiB.",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/ProductBulkItem"}}}}},
                "responses": {
                  "200": {"description": "The outcome of each item, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkResult"}}}},
                  "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
                  "403": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"},
                  "413": {"$ref": "#/components/responses/Problem"}, "415": {"$ref": "#/components/responses/Problem"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/admin/v1/products/{id}": {
              "get": {
                "summary": "A product in any status; ETag is its version",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {"200": {"description": "The product", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "Cache-Status": {"$ref": "#/components/headers/Cache-Status"}, "Surrogate-Key": {"$ref": "#/components/headers/Surrogate-Key"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}}, "404": {"$ref": "#/components/responses/Problem"}}
              },
              "patch": {
                "summary": "Change some fields; If-Match with the version refuses a stale update",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}, {"$ref": "#/components/parameters/IfMatch"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProductPatch"}}}},
                "responses": {
                  "200": {"description": "Applied everywhere", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                  "202": {"description": "Durable, pending", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pending"}}}},
                  "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"},
                  "412": {"$ref": "#/components/responses/Problem"}
                }
              },
              "delete": {
                "summary": "Delete a product",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}, {"$ref": "#/components/parameters/IfMatch"}],
                "responses": {"204": {"description": "Deleted everywhere"}, "202": {"description": "Durable, pending"}, "404": {"$ref": "#/components/responses/Problem"}, "412": {"$ref": "#/components/responses/Problem"}}
              }
            },
            "/admin/v1/categories": {
              "post": {
                "summary": "Create a category",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CategoryWrite"}}}},
                "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Category"}}}}, "400": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}}
              }
            },
            "/admin/v1/categories/{id}": {
              "patch": {
                "summary": "Rename or move a category",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}, {"$ref": "#/components/parameters/IfMatch"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CategoryWrite"}}}},
                "responses": {"200": {"description": "Updated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Category"}}}}, "404": {"$ref": "#/components/responses/Problem"}, "412": {"$ref": "#/components/responses/Problem"}}
              }
            },
            "/admin/v1/outbox/dead-letters": {
              "get": {
                "summary": "Outbox entries that could not be delivered (unreadable, or refused too often), oldest first; each holds back its product's later changes",
                "security": [{"bearer": []}],
                "parameters": [
                  {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": {
                  "200": {"description": "The dead letters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeadLetters"}}}},
                  "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
                  "403": {"$ref": "#/components/responses/Problem"}
                }
              }
            },
            "/admin/v1/outbox/dead-letters/{id}": {
              "delete": {
                "summary": "Drop a dead letter for good: its change never reaches MongoDB or the cache",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {
                  "204": {"description": "Dropped"},
                  "401": {"$ref": "#/components/responses/Problem"}, "403": {"$ref": "#/components/responses/Problem"},
                  "404": {"$ref": "#/components/responses/Problem"}
                }
              }
            },
            "/admin/v1/outbox/dead-letters/{id}/retry": {
              "post": {
                "summary": "Put a dead letter back in the outbox, due now",
                "security": [{"bearer": []}],
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {
                  "202": {"description": "Queued for the relay"},
                  "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"},
                  "403": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}
                }
              }
            },
            "/admin/v1/warmup": {
              "post": {
                "summary": "Start a warmup job",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WarmupRequest"}}}},
                "responses": {"202": {"description": "Started; Location is its report", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WarmupReport"}}}}, "400": {"$ref": "#/components/responses/Problem"}}
              }
            },
            "/admin/v1/warmup/{id}": {
              "get": {
                "summary": "A warmup job's progress",
                "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Its progress", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WarmupReport"}}}}, "404": {"$ref": "#/components/responses/Problem"}}
              }
            },
            "/hooks/v1/invalidate": {
              "post": {
                "summary": "Invalidate cached answers after an outside write; HMAC-SHA256 signed",
                "parameters": [
                  {"name": "X-Timestamp", "in": "header", "required": true, "schema": {"type": "integer"}, "description": "Unix seconds; at most 300 s from the server's clock"},
                  {"name": "X-Signature", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}, "description": "hex HMAC-SHA256(secret, X-Timestamp + '.' + body)"}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HookRequest"}}}},
                "responses": {"200": {"description": "Invalidated"}, "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"}, "409": {"description": "This signed request was already applied (a replay within the 5-minute window); nothing was done", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}, "503": {"$ref": "#/components/responses/Unavailable"}}
              }
            },
            "/healthz": {"get": {"summary": "The process is alive", "responses": {"200": {"description": "Alive"}}}},
            "/readyz": {"get": {"summary": "Each backend checked with a timeout, and the schema's migrations", "responses": {"200": {"description": "Serving: status ready (every backend up) or degraded (MongoDB or Redis down; each is named)"}, "503": {"description": "Unready: PostgreSQL unreachable or a migration of this build not applied (status unavailable; what to run is in migrations.detail)"}}}},
            "/metrics": {"get": {"summary": "Prometheus text format", "responses": {"200": {"description": "The metrics", "content": {"text/plain": {}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
              "Id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1, "format": "int64"}},
              "IfMatch": {"name": "If-Match", "in": "header", "schema": {"type": "string"}, "description": "the version from the ETag, e.g. \"3\""}
            },
            "responses": {
              "Problem": {"description": "RFC 9457 problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "Unavailable": {"description": "A backend is down and nothing is cached; see Retry-After", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            },
            "headers": {
              "ETag": {"description": "Strong entity-tag of the body", "schema": {"type": "string"}},
              "Cache-Control": {"description": "max-age and stale-while-revalidate", "schema": {"type": "string"}},
              "Cache-Status": {"description": "How the cache served the answer (RFC 9211)", "schema": {"type": "string"}},
              "Surrogate-Key": {"description": "The tags whose invalidation reaches this answer", "schema": {"type": "string"}},
              "X-Request-Id": {"description": "The request's id (the client's own when it sent one)", "schema": {"type": "string"}}
            },
            "schemas": {
              "Price": {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,4})?$", "example": "49.90"},
              "ListingItem": {
                "type": "object",
                "required": ["id", "sku", "name", "price", "currency", "attributes", "images", "created_at"],
                "properties": {
                  "id": {"type": "integer"}, "sku": {"type": "string"}, "name": {"type": "string"}, "price": {"$ref": "#/components/schemas/Price"},
                  "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "attributes": {"type": "object"},
                  "images": {"type": "array", "items": {"type": "string", "format": "uri"}}, "created_at": {"type": "string", "format": "date-time"}
                }
              },
              "Product": {
                "allOf": [{"$ref": "#/components/schemas/ListingItem"}, {
                  "type": "object",
                  "required": ["description", "category_id", "status", "updated_at", "version"],
                  "properties": {"description": {"type": "string"}, "category_id": {"type": "integer"}, "status": {"type": "string", "enum": ["active", "draft", "archived"]}, "updated_at": {"type": "string", "format": "date-time"}, "version": {"type": "integer"}}
                }]
              },
              "CategoryPage": {
                "type": "object",
                "required": ["category_id", "page", "per_page", "sort", "total", "page_count", "items"],
                "properties": {
                  "category_id": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                  "sort": {"type": "string"}, "total": {"type": "integer"}, "page_count": {"type": "integer"},
                  "items": {"type": "array", "items": {"$ref": "#/components/schemas/ListingItem"}}
                }
              },
              "MultiGet": {"type": "object", "required": ["items", "missing"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}, "missing": {"type": "array", "items": {"type": "integer"}}}},
              "Category": {"type": "object", "required": ["id", "slug", "name"], "properties": {"id": {"type": "integer"}, "slug": {"type": "string"}, "name": {"type": "string"}, "parent_id": {"type": ["integer", "null"]}, "product_count": {"type": "integer"}, "version": {"type": "integer"}}},
              "CategoryList": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Category"}}}},
              "CategoryWrite": {"type": "object", "additionalProperties": false, "properties": {"id": {"type": "integer"}, "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,100}$"}, "name": {"type": "string", "maxLength": 200}, "parent_id": {"type": "integer"}}},
              "ProductCreate": {
                "type": "object", "additionalProperties": false,
                "required": ["sku", "category_id", "name", "price", "currency"],
                "properties": {
                  "id": {"type": "integer"}, "sku": {"type": "string", "maxLength": 64}, "category_id": {"type": "integer"},
                  "status": {"type": "string", "enum": ["active", "draft", "archived"]}, "name": {"type": "string", "maxLength": 200},
                  "description": {"type": "string", "maxLength": 10000}, "price": {"$ref": "#/components/schemas/Price"},
                  "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "attributes": {"type": "object"},
                  "images": {"type": "array", "maxItems": 20, "items": {"type": "string", "format": "uri"}}
                }
              },
              "ProductPatch": {"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {"sku": {"type": "string"}, "category_id": {"type": "integer"}, "status": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}, "price": {"$ref": "#/components/schemas/Price"}, "currency": {"type": "string"}, "attributes": {"type": "object"}, "images": {"type": "array", "items": {"type": "string"}}}},
              "ProductBulkItem": {"type": "object", "required": ["id"], "additionalProperties": false, "properties": {"id": {"type": "integer", "minimum": 1}, "version": {"type": "integer", "minimum": 1}, "sku": {"type": "string"}, "category_id": {"type": "integer"}, "status": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}, "price": {"$ref": "#/components/schemas/Price"}, "currency": {"type": "string"}, "attributes": {"type": "object"}, "images": {"type": "array", "items": {"type": "string"}}}},
              "BulkResult": {"type": "object", "required": ["applied", "pending", "failed", "items"], "properties": {"applied": {"type": "integer"}, "pending": {"type": "integer"}, "failed": {"type": "integer"}, "items": {"type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {"id": {"type": ["integer", "null"]}, "status": {"type": "integer", "enum": [200, 202, 400, 404, 412]}, "version": {"type": "integer"}, "detail": {"type": "string"}}}}}},
              "DeadLetters": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["id", "version", "operation", "tags", "attempts", "last_error", "created_at", "dead_at"], "properties": {"id": {"type": "integer"}, "product_id": {"type": ["integer", "null"]}, "version": {"type": "integer"}, "operation": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}, "attempts": {"type": "integer"}, "last_error": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}, "dead_at": {"type": "string", "format": "date-time"}}}}}},
              "Pending": {"type": "object", "required": ["id", "state", "detail"], "properties": {"id": {"type": "integer"}, "version": {"type": "integer"}, "state": {"const": "pending"}, "detail": {"type": "string"}}},
              "WarmupRequest": {"type": "object", "additionalProperties": false, "properties": {"categories": {"type": "array", "items": {"type": "integer"}}, "pages": {"type": "integer", "minimum": 1, "maximum": 1000}, "sorts": {"type": "array", "items": {"type": "string", "enum": ["newest", "price_asc", "price_desc"]}}, "per_page": {"type": "integer", "minimum": 1, "maximum": 100}, "concurrency": {"type": "integer", "minimum": 1, "maximum": 64}, "rate": {"type": "number", "description": "pages per second: 0 (unlimited) or 0.01 to 100000", "minimum": 0, "maximum": 100000}}},
              "WarmupReport": {"type": "object", "required": ["id", "state", "total", "done", "filled", "already_warm", "failed"], "properties": {"id": {"type": "string"}, "state": {"type": "string", "enum": ["running", "finished", "finished-with-failures"]}, "total": {"type": "integer"}, "done": {"type": "integer"}, "filled": {"type": "integer"}, "already_warm": {"type": "integer"}, "failed": {"type": "integer"}, "rate_per_second": {"type": "number"}, "seconds": {"type": "number"}, "failures": {"type": "array", "items": {"type": "string"}}}},
              "HookRequest": {"type": "object", "additionalProperties": false, "properties": {"products": {"type": "array", "items": {"type": "integer"}}, "categories": {"type": "array", "items": {"type": "integer"}}, "all": {"type": "boolean"}, "mode": {"type": "string", "enum": ["hard", "soft"], "default": "hard"}}},
              "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {"type": {"type": "string", "format": "uri"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}, "instance": {"type": "string"}}}
            }
          }
        }
        """#
}
