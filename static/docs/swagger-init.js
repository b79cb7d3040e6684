// Starts Swagger UI on /docs (webapp/api/docs.py). It is a file, not an inline
// <script>, so that the page runs under the app's CSP (script-src 'self').
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // A token lives in the page only: it is gone on reload, never in localStorage.
  persistAuthorization: false,
  // No badge fetched from validator.swagger.io: img-src is 'self' data: only.
  validatorUrl: null,
});
