// Litestar's Swagger page loads a "standalone preset" script, but its configuration only uses
// SwaggerUIBundle.presets.apis (SwaggerUIBundle.SwaggerUIStandalonePreset is undefined), so this
// empty file stands in for the 268 KB swagger-ui-standalone-preset.js.
