// The editor's "Email me a test": sends the form as it stands (nothing is saved) and says what
// happened beside the button. Without this script the button stays hidden.
(function () {
  const box = document.querySelector(".newsletter-test");
  const form = document.getElementById("post-form");
  if (!box || !form) return;
  const button = box.querySelector("button");
  const state = box.querySelector("[role=status]");
  box.hidden = false;

  button.addEventListener("click", async () => {
    const body = new FormData(form); // EasyMDE keeps the text area in step (forceSync)
    body.delete("action");
    body.set("post_id", form.dataset.postId || "");
    button.disabled = true;
    state.textContent = "Sending…";
    try {
      const answer = await fetch(box.dataset.url, {
        method: "POST", body, credentials: "same-origin",
        headers: {Accept: "application/json", "X-CSRFToken": body.get("csrf_token") || ""},
      });
      let data = {};
      try { data = await answer.json(); } catch (ignored) { data = {}; }
      state.textContent = answer.ok ? data.message
        : data.error || data.message || `Not sent: the server answered ${answer.status}.`;
    } catch (error) {
      state.textContent = "Not sent: the site could not be reached. Try again.";
    } finally {
      button.disabled = false;
    }
  });
})();
