/* The post editor: EasyMDE with a server-rendered preview, image uploads, autosave,
 * a warning before leaving with unsaved changes, slug and tag suggestions, and the
 * featured-image picker. Everything it needs comes from data-* attributes on #post-form. */
(function () {
  "use strict";

  const form = document.getElementById("post-form");
  if (!form) return;
  const urls = {
    preview: form.dataset.previewUrl,
    upload: form.dataset.uploadUrl,
    slug: form.dataset.slugUrl,
    tags: form.dataset.tagsUrl,
    picker: form.dataset.pickerUrl,
  };
  const csrfToken = form.querySelector("input[name=csrf_token]").value;
  const field = (id) => document.getElementById(id);
  const saveState = field("save-state");
  const AUTOSAVE_DELAY_MS = 3000;
  const PREVIEW_DELAY_MS = 250;
  const WORDS_PER_MINUTE = 230;

  function debounce(fn, wait) {
    let timer;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), wait);
    };
  }

  async function send(url, options) {
    const response = await fetch(url, {
      credentials: "same-origin",
      ...options,
      headers: { "X-CSRFToken": csrfToken, Accept: "application/json", ...(options.headers || {}) },
    });
    let data = {};
    try {
      data = await response.json();
    } catch (ignored) {
      data = {};
    }
    if (!response.ok) {
      // Our JSON errors say {error} or, from the error pages, {error, message}.
      data.error = data.message || data.error || `The server answered ${response.status}.`;
    }
    return { ok: response.ok, status: response.status, data };
  }

  const postJSON = (url, body) =>
    send(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  function uploadFile(file) {
    const body = new FormData();
    body.append("file", file);
    return send(urls.upload, { method: "POST", body });
  }

  function say(message) {
    saveState.textContent = message;
  }

  // ---- Markdown editor with the server's preview ----------------------------------------------
  let lastPreview = "";
  const refreshPreview = debounce(async (text, target) => {
    const result = await postJSON(urls.preview, { body: text });
    if (result.ok) {
      lastPreview = result.data.html;
      target.innerHTML = lastPreview; // already sanitised by the server's pipeline
    }
  }, PREVIEW_DELAY_MS);

  function countWords(text) {
    const words = text.trim().split(/\s+/).filter(Boolean);
    return words.length;
  }

  const easyMDE = new EasyMDE({
    element: field("body"),
    autoDownloadFontAwesome: false,
    spellChecker: false,
    nativeSpellcheck: true,
    forceSync: true,
    autofocus: false,
    minHeight: "22rem",
    sideBySideFullscreen: false,
    uploadImage: true,
    imageAccept: "image/jpeg, image/png, image/webp, image/gif",
    imageUploadFunction(file, onSuccess, onError) {
      // EasyMDE would put the image where the cursor is, inside the paragraph: this script
      // inserts it itself, in a paragraph of its own, once its alt text is asked for.
      const cm = easyMDE.codemirror;
      const mark = cm.setBookmark(cm.getCursor(), { insertLeft: true });
      say(`Uploading ${file.name}…`);
      uploadFile(file).then((result) => {
        if (result.ok) {
          say(`Uploaded ${file.name}. Describe it for people who cannot see it.`);
          queueImage(result.data, mark);
        } else {
          mark.clear();
          say(result.data.error || "The upload failed.");
          onError(result.data.error || "The upload failed.");
        }
      }, () => {
        mark.clear();
        onError("The upload failed: the server could not be reached.");
      });
    },
    errorCallback(message) {
      say(message);
    },
    previewRender(text, preview) {
      refreshPreview(text, preview);
      return lastPreview || "<p>Rendering the preview…</p>";
    },
    toolbar: [
      "bold", "italic", "heading", "|", "quote", "unordered-list", "ordered-list", "|",
      "link", "image", "upload-image", "table", "code", "horizontal-rule", "|",
      "preview", "side-by-side", "fullscreen", "|", "undo", "redo",
    ],
    status: [
      {
        className: "words",
        defaultValue(el) { el.textContent = `${countWords(field("body").value)} words`; },
        onUpdate(el) { el.textContent = `${countWords(easyMDE.value())} words`; },
      },
      {
        className: "reading-time",
        defaultValue(el) {
          el.textContent = `${Math.max(1, Math.ceil(countWords(field("body").value) / WORDS_PER_MINUTE))} min read`;
        },
        onUpdate(el) {
          el.textContent = `${Math.max(1, Math.ceil(countWords(easyMDE.value()) / WORDS_PER_MINUTE))} min read`;
        },
      },
      "lines", "cursor",
    ],
  });
  window.blogEditor = easyMDE; // for people (and tests) who want to script the editor
  // CodeMirror types into its own hidden textarea: give it the name the original field had.
  const bodyLabel = form.querySelector("label[for=body]");
  easyMDE.codemirror.getInputField().setAttribute("aria-label", bodyLabel ? bodyLabel.textContent.trim() : "Text");

  // ---- Uploaded images: own paragraph, one alt text shared with the Media library -----------
  const altDialog = field("image-alt-dialog");
  const altInput = field("image-alt-text");
  const altNote = field("image-alt-note");
  let imageQueue = Promise.resolve();

  function queueImage(media, mark) {
    imageQueue = imageQueue.then(() => placeImage(media, mark));
  }

  function askAlt(media) {
    return new Promise((resolve) => {
      altInput.value = media.alt || "";
      field("image-alt-preview").src = media.url;
      // Only its uploader or an editor may change an image's one alt text.
      altInput.readOnly = !media.can_edit_alt;
      altNote.hidden = media.can_edit_alt;
      altNote.textContent = media.can_edit_alt ? "" :
        "This image's alt text is kept in the Media library; its uploader or an editor can change it.";
      altDialog.returnValue = "";
      altDialog.addEventListener("close", () => {
        resolve(altDialog.returnValue === "save" ? altInput.value.trim() : null);
      }, { once: true });
      altDialog.showModal();
      altInput.focus();
    });
  }

  // The alt text the Markdown must carry: none when the library holds it (the page gets the
  // library's, so an edit there reaches this post too), else what was typed, for this spot.
  async function markdownAlt(media, alt) {
    if (alt === (media.alt || "")) return "";
    if (!media.can_edit_alt) return alt;
    const result = await postJSON(media.alt_url, { alt_text: alt, shown: media.alt_shown });
    if (result.ok) {
      say(`${result.data.message}`);
      return "";
    }
    say(result.data.error || "The alt text could not be saved in the library.");
    return alt;
  }

  function escapeAlt(alt) {
    return alt.replace(/\s+/g, " ").replace(/([\\[\]])/g, "\\$1");
  }

  function ownParagraph(markdown, before, after) {
    let lead = "\n\n";
    if (before === "" || before.endsWith("\n\n")) lead = "";
    else if (before.endsWith("\n")) lead = "\n";
    let trail = "\n\n"; // also at the end: what is typed next starts a paragraph of its own
    if (after.startsWith("\n\n")) trail = "";
    else if (after.startsWith("\n")) trail = "\n";
    return lead + markdown + trail;
  }

  async function placeImage(media, mark) {
    const asked = await askAlt(media);
    // Skipped or dismissed: the library's alt text, if any, is the one the page shows.
    const alt = asked === null ? "" : await markdownAlt(media, asked);
    const cm = easyMDE.codemirror;
    const at = mark.find() || cm.getCursor();
    mark.clear();
    const text = cm.getValue();
    const index = cm.indexFromPos(at);
    const inserted = ownParagraph(`![${escapeAlt(alt)}](${media.url})`, text.slice(0, index), text.slice(index));
    cm.replaceRange(inserted, at);
    cm.setCursor(cm.posFromIndex(index + inserted.length));
    cm.focus();
    if (!alt && !(asked || media.alt)) say("Image inserted without alt text: screen readers will skip it.");
  }

  // ---- Autosave and the unsaved-changes warning ----------------------------------------------
  let unsaved = false;
  let submitting = false;

  // The version this editor started from and the autosave it last wrote or loaded: the
  // server refuses (409) an autosave when either has moved on elsewhere, and the text stays.
  const versionInput = form.querySelector("input[name=version]");
  let autosaveId = Number(form.dataset.autosaveId || 0);

  const autosave = debounce(async () => {
    const result = await postJSON(form.dataset.autosaveUrl, {
      title: field("title").value,
      body: easyMDE.value(),
      excerpt: field("excerpt").value,
      version: versionInput.value === "" ? null : Number(versionInput.value),
      autosave_id: autosaveId,
    });
    if (!result.ok) {
      say(result.data.error || "Autosave failed; keep this page open and try saving.");
      return;
    }
    autosaveId = result.data.autosave_id;
    versionInput.value = String(result.data.version);
    if (!form.dataset.postId) {
      // The first autosave of a new post made a draft: from now on this page edits it.
      form.dataset.postId = String(result.data.id);
      form.dataset.autosaveUrl = result.data.autosave_url;
      form.action = result.data.edit_url;
      window.history.replaceState(null, "", result.data.edit_url);
    }
    const time = new Date(result.data.saved_at).toLocaleTimeString();
    say(`Autosaved at ${time}. Not yet saved or published.`);
  }, AUTOSAVE_DELAY_MS);

  function changed() {
    unsaved = true;
    autosave();
  }

  // The words and reading time as readers will count them, from the server's rendering.
  const readingStats = field("reading-stats");
  const refreshStats = debounce(async () => {
    const result = await postJSON(urls.preview, { body: easyMDE.value() });
    if (result.ok) {
      const { words, minutes } = result.data;
      readingStats.textContent = `${words} ${words === 1 ? "word" : "words"} · ${minutes} min read`;
    }
  }, 800);
  refreshStats();

  easyMDE.codemirror.on("change", changed);
  easyMDE.codemirror.on("change", refreshStats);
  ["title", "excerpt"].forEach((id) => field(id).addEventListener("input", changed));
  form.addEventListener("input", () => { unsaved = true; });
  form.addEventListener("submit", () => { submitting = true; });
  window.addEventListener("beforeunload", (event) => {
    if (unsaved && !submitting) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // ---- Slug suggested from the title, until the author edits it ------------------------------
  const slugInput = field("slug");
  let slugEdited = form.dataset.slugEdited === "true" && slugInput.value !== "";
  slugInput.addEventListener("input", () => { slugEdited = slugInput.value.trim() !== ""; });
  const suggestSlug = debounce(async () => {
    if (slugEdited) return;
    const query = new URLSearchParams({ title: field("title").value, id: form.dataset.postId || "" });
    const result = await send(`${urls.slug}?${query}`, { method: "GET" });
    if (result.ok && !slugEdited) slugInput.value = result.data.slug;
  }, 400);
  field("title").addEventListener("input", suggestSlug);

  // ---- Tag suggestions -----------------------------------------------------------------------
  const tagsInput = field("tags");
  const tagBox = field("tag-suggestions");
  const lastTag = () => tagsInput.value.split(",").pop().trim();
  const suggestTags = debounce(async () => {
    const query = new URLSearchParams({ q: lastTag() });
    const result = await send(`${urls.tags}?${query}`, { method: "GET" });
    tagBox.replaceChildren();
    if (!result.ok) return;
    const chosen = tagsInput.value.split(",").map((name) => name.trim().toLowerCase());
    result.data.tags.filter((name) => !chosen.includes(name.toLowerCase())).slice(0, 8).forEach((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      button.addEventListener("click", () => {
        const parts = tagsInput.value.split(",").slice(0, -1).map((part) => part.trim()).filter(Boolean);
        tagsInput.value = [...parts, name].join(", ") + ", ";
        tagBox.replaceChildren();
        tagsInput.focus();
        unsaved = true;
      });
      tagBox.append(button);
    });
  }, 250);
  tagsInput.addEventListener("input", suggestTags);
  tagsInput.addEventListener("focus", suggestTags);

  // ---- A new category, made without leaving the editor ----------------------------------------
  const newCategory = field("new-category");
  if (newCategory) {
    newCategory.hidden = false;
    const nameInput = field("new-category-name");
    const state = field("new-category-state");
    const addCategory = async () => {
      const name = nameInput.value.trim();
      if (!name) {
        state.textContent = "Type the new category's name first.";
        return;
      }
      const result = await postJSON(newCategory.dataset.url, { name });
      if (!result.ok) {
        state.textContent = result.data.error || "The category could not be added.";
        return;
      }
      const select = field("category_id");
      select.append(new Option(result.data.name, String(result.data.id)));
      select.value = String(result.data.id);
      nameInput.value = "";
      state.textContent = result.data.message;
      unsaved = true;
    };
    field("new-category-add").addEventListener("click", addCategory);
    nameInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter here adds the category; it must not submit the post
        addCategory();
      }
    });
  }

  // ---- Character counts of the search and social fields -------------------------------------
  document.querySelectorAll("[data-count-for]").forEach((counter) => {
    const input = field(counter.dataset.countFor);
    const suggested = Number(input.dataset.suggested);
    const update = () => {
      const length = input.value.length;
      const over = length > suggested ? `, ${length - suggested} more than search results show` : "";
      counter.textContent = `${length} characters (about ${suggested} show in search results${over}).`;
    };
    input.addEventListener("input", update);
    update();
  });

  // ---- Featured image ------------------------------------------------------------------------
  const featuredId = field("featured_media_id");
  const featuredPreview = field("featured-preview");
  const removeButton = field("featured-remove");
  const picker = field("featured-picker");

  // A chosen image's thumbnail in `preview`, or a hint when none is chosen.
  function showChosenImage(preview, thumbUrl, emptyHint) {
    preview.replaceChildren();
    if (thumbUrl) {
      const img = document.createElement("img");
      img.src = thumbUrl;
      img.alt = "";
      preview.append(img);
    } else {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = emptyHint;
      preview.append(hint);
    }
  }

  function showFeatured(id, thumbUrl) {
    featuredId.value = id ? String(id) : "";
    showChosenImage(featuredPreview, id ? thumbUrl : null, "No image chosen.");
    removeButton.hidden = !id;
    unsaved = true;
  }

  field("featured-upload").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    say(`Uploading ${file.name}…`);
    const result = await uploadFile(file);
    if (result.ok) {
      showFeatured(result.data.id, result.data.url);
      if (!field("featured_alt").value) field("featured_alt").value = result.data.alt || "";
      say(`Uploaded ${file.name} as the featured image.`);
    } else {
      say(result.data.error || "The upload failed.");
    }
    event.target.value = "";
  });

  async function loadPicker(box, page, choose) {
    const result = await send(`${urls.picker}?page=${page}`, { method: "GET" });
    if (!result.ok) return;
    result.data.items.forEach((item) => {
      const button = document.createElement("button");
      button.type = "button";
      button.title = item.alt || "Use this image";
      const img = document.createElement("img");
      img.src = item.thumb;
      img.alt = item.alt || `Image ${item.id}`;
      button.append(img);
      button.addEventListener("click", () => {
        choose(item);
        box.hidden = true;
      });
      box.append(button);
    });
    if (result.data.next_page) {
      const more = document.createElement("button");
      more.type = "button";
      more.textContent = "More…";
      more.addEventListener("click", () => { more.remove(); loadPicker(box, result.data.next_page, choose); });
      box.append(more);
    }
  }

  function chooseFeatured(item) {
    showFeatured(item.id, item.thumb);
    if (!field("featured_alt").value) field("featured_alt").value = item.alt || "";
  }

  field("featured-choose").addEventListener("click", () => {
    picker.hidden = !picker.hidden;
    if (!picker.hidden && !picker.childElementCount) loadPicker(picker, 1, chooseFeatured);
  });
  removeButton.addEventListener("click", () => showFeatured(null));

  // ---- Social image (the featured image unless one is chosen) --------------------------------
  const socialId = field("social_media_id");
  const socialPreview = field("social-preview");
  const socialPicker = field("social-picker");
  const socialRemove = field("social-remove");

  function showSocial(item) {
    socialId.value = item ? String(item.id) : "";
    showChosenImage(socialPreview, item ? item.thumb : null, "The featured image is used.");
    socialRemove.hidden = !item;
    unsaved = true;
  }

  field("social-choose").addEventListener("click", () => {
    socialPicker.hidden = !socialPicker.hidden;
    if (!socialPicker.hidden && !socialPicker.childElementCount) loadPicker(socialPicker, 1, showSocial);
  });
  socialRemove.addEventListener("click", () => showSocial(null));

  // ---- An image from the library, placed like an upload (its alt text prefilled) ------------
  const insertPicker = field("insert-picker");
  const insertButton = field("insert-from-library");
  insertButton.parentElement.hidden = false;
  insertButton.addEventListener("click", () => {
    insertPicker.hidden = !insertPicker.hidden;
    if (!insertPicker.hidden && !insertPicker.childElementCount) {
      const cm = easyMDE.codemirror;
      loadPicker(insertPicker, 1, (item) => {
        queueImage(item, cm.setBookmark(cm.getCursor(), { insertLeft: true }));
      });
    }
  });

  // ---- Preview links: a click selects the whole address, ready to copy -----------------------
  document.querySelectorAll(".preview-link-address").forEach((input) => {
    input.addEventListener("focus", () => input.select());
  });
  // Making or revoking a link reloads the editor: say so before unsaved text is left behind.
  document.querySelectorAll("#preview-links button[formaction]").forEach((button) => {
    button.addEventListener("click", (event) => {
      const message = "Your latest changes are not saved, and a preview link shows the post as " +
        "last saved. Leave them unsaved and go on?";
      if (unsaved && !window.confirm(message)) event.preventDefault();
    });
  });
})();
