// Starts the NHS.UK design system's components (header menu, error summary focus, …). A module,
// so browsers too old for the design system's JavaScript skip it and keep the plain pages.
import { initAll } from "/static/vendor/nhsuk-frontend/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();
