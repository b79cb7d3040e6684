// Starts ReDoc on /redoc (webapp/api/docs.py). It is a file, not an inline
// <script>, so that the page runs under the app's CSP (script-src 'self').
"use strict";

(function () {
  // ReDoc styles itself with <style> elements (styled-components); the page's
  // CSP allows them by this per-response nonce, which the route puts on this tag.
  var nonce = document.currentScript.nonce;
  document.body.style.margin = "0"; // CSSOM, which style-src does not restrict
  Redoc.init(
    "/openapi.json",
    {
      nonce: nonce,
      // The search runs in a Worker built from a blob: URL, which script-src
      // 'self' blocks (a dead search box otherwise); we keep scripts strict.
      disableSearch: true,
    },
    document.getElementById("redoc")
  );
})();
