// Alpine components of the gateway's pages. The CSP build of Alpine evaluates no inline
// expressions: every behaviour is registered here, and templates refer to it by name.
document.addEventListener("alpine:init", () => {
  // A password strength meter: length classes and character variety, 0–4.
  Alpine.data("passwordStrength", () => ({
    password: "",
    get bytes() { return new TextEncoder().encode(this.password).length; },
    get score() {
      const p = this.password;
      if (this.bytes < 8) return p.length ? 1 : 0;
      let s = 1;
      if (this.bytes >= 12) s++;
      if (/[a-z]/.test(p) && /[A-Z]/.test(p)) s++;
      if (/[0-9]/.test(p) && /[^A-Za-z0-9]/.test(p)) s++;
      return Math.min(s, 4);
    },
    get label() {
      if (this.bytes > 72) return "Too long: at most 72 bytes.";
      if (this.bytes < 8) return this.password ? "Too short: at least 8 bytes." : "8–72 bytes.";
      return ["", "Weak", "Fair", "Good", "Strong"][this.score];
    },
    get barClass() { return ["", "is-danger", "is-warning", "is-info", "is-success"][this.score]; },
  }));

  // Validation of the order form as the user types, mirroring the order service's rules.
  Alpine.data("orderForm", () => ({
    item: "",
    quantity: "1",
    touched: false,
    init() { this.item = this.$el.querySelector("#item_name").value; this.quantity = this.$el.querySelector("#quantity").value; },
    get itemError() {
      const v = this.item.trim();
      if (!v) return this.item ? "The item is required." : "";
      if (v.length > 255) return "At most 255 characters.";
      if (/[<>"]/.test(v)) return 'No <, > or " please.';
      return "";
    },
    get quantityError() {
      const n = Number(this.quantity);
      return Number.isInteger(n) && n >= 1 && n <= 100 ? "" : "A whole number from 1 to 100.";
    },
    get invalid() { return !this.item.trim() || this.itemError !== "" || this.quantityError !== ""; },
  }));
});

// A page opens its event stream at the position of the gateway's live feed when it was
// rendered, which may be a little behind what the page shows: a new row the page already
// has is not added a second time.
document.addEventListener("htmx:sseBeforeMessage", (event) => {
  const row = /^\s*<tr id="([^"]+)"/.exec(event.detail.data || "");
  if (row && document.getElementById(row[1])) event.preventDefault();
});

// htmx swaps no answer with an error status. A form marked data-swap-errors is answered with
// itself again when it is refused (400 field errors, 422) or could not be placed (503): its
// messages, and its hidden keys, must replace the form the browser has. Other error answers
// (problem details, an error page) are still not swapped.
document.addEventListener("htmx:beforeSwap", (event) => {
  const d = event.detail;
  const html = (d.xhr.getResponseHeader("Content-Type") || "").startsWith("text/html");
  if (d.isError && html && [400, 422, 503].includes(d.xhr.status) && d.requestConfig.elt.closest("[data-swap-errors]")) {
    d.shouldSwap = true;
    d.isError = false;
  }
});
