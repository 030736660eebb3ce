"""Categories and tags in the admin area: for editors and admins, except the editor's
tag suggestions, which every signed-in user may ask for.

Decisions:
- Two editors may edit a category at once. Its form carries a fingerprint of the name, slug,
  description and position it showed; a save from a page loaded before another editor's
  save is refused (409, the input kept) instead of putting the old description back
  (blog.concurrent_edits).
- A category's parent is a select of the others, indented as the tree; the category and
  those below it are left out, and the service refuses them all the same (a cycle), with the
  message by the field. Deleting a category moves its children up to its parent.
- Tags are not checked: a tag is only its name and slug, and a rename is a complete,
  deliberate choice that nothing else is written into; the later rename wins and shows at
  once in the tag list. Merge and delete act on what is there when they run.
"""

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from .. import category_tree
from .. import taxonomy as service
from ..concurrent_edits import (
    EditConflict,
    MissingFingerprint,
    check_row_unchanged,
    fields_of,
    fingerprint,
)
from ..extensions import db
from ..models import Category, Post, Tag, post_tag
from ..permissions import editor_required
from . import bp
from .forms import ActionForm, _optional_int

TAGS_PER_PAGE = 50
FIX_FIELDS = "Nothing was saved yet: please correct the marked field."
CATEGORY_FIELDS = ("name", "slug", "description", "position", "parent_id")


# Forms --------------------------------------------------------------------------------------


class NewCategoryForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("A category name is required."),
            Length(max=service.MAX_NAME_LENGTH),
        ],
    )
    description = TextAreaField("Description", validators=[Length(max=2000)])
    # Choices are filled per request; the service checks what is sent.
    parent_id = SelectField("Parent", coerce=_optional_int, validate_choice=False)


class CategoryForm(NewCategoryForm):
    slug = StringField("Slug", validators=[Length(max=service.MAX_NAME_LENGTH)])
    position = IntegerField(
        "Position", validators=[Optional(), NumberRange(min=-10_000, max=10_000)]
    )


class DeleteCategoryForm(FlaskForm):
    move_to = SelectField("Move its posts to")


class TagForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("A tag name is required."),
            Length(max=service.MAX_TAG_NAME_LENGTH),
        ],
    )
    slug = StringField("Slug", validators=[Length(max=service.MAX_NAME_LENGTH)])


class MergeTagForm(FlaskForm):
    target = SelectField("Merge into", validators=[DataRequired("Choose the tag to keep.")])


# Helpers ------------------------------------------------------------------------------------


def _parent_choices(form, category: Category | None = None, tree=None) -> None:
    form.parent_id.choices = [SelectChoice("", "None (a top-level category)")] + [
        SelectChoice(value, label) for value, label in service.indented_choices(category, tree)
    ]


def _category_or_404(category_id: int) -> Category:
    return db.session.get(Category, category_id) or abort(404)


def _tag_or_404(tag_id: int) -> Tag:
    return db.session.get(Tag, tag_id) or abort(404)


def _refuse(form: FlaskForm, error: service.TaxonomyError) -> None:
    """Undo the half-made change and show the message next to its field (or flashed)."""
    db.session.rollback()
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        flash(str(error), "error")
        return
    field.errors = [*field.errors, str(error)]
    flash(FIX_FIELDS, "error")


def _saved(message: str, endpoint: str, **values):
    db.session.commit()
    current_app.logger.info("%s: %s", current_user.email, message)
    flash(message, "success")
    return redirect(url_for(endpoint, **values), 303)


def _plural(count: int, word: str = "post") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# Categories ---------------------------------------------------------------------------------


def _categories_with_counts() -> tuple[list[tuple[Category, int, int]], category_tree.CategoryTree]:
    """Every category as the tree orders it, with its depth and its number of posts (primary
    category), in one grouped query; and the tree, made from the same rows."""
    query = (
        select(Category, func.count(Post.id))
        .outerjoin(Post, Post.category_id == Category.id)
        .group_by(Category.id)
    )
    counted = {category.id: (category, count) for category, count in db.session.execute(query)}
    tree = category_tree.of(category for category, _ in counted.values())
    rows = [(*counted[node.id], depth) for node, depth in tree.in_order()]
    return rows, tree


def _posts_in(category: Category) -> int:
    query = select(func.count(Post.id)).where(Post.category_id == category.id)
    return db.session.scalar(query) or 0


@bp.route("/categories/", methods=["GET", "POST"])
@editor_required
def categories():
    form = NewCategoryForm()
    rows, tree = _categories_with_counts()
    _parent_choices(form, tree=tree)
    if form.validate_on_submit():
        try:
            category = service.create_category(
                form.name.data, form.description.data, parent_id=form.parent_id.data
            )
        except service.TaxonomyError as error:
            _refuse(form, error)
        else:
            return _saved(f"Category “{category.name}” is added.", "admin.categories")
    elif form.is_submitted():
        flash(FIX_FIELDS, "error")
    status = 400 if form.is_submitted() else 200
    if form.is_submitted():
        rows, _ = _categories_with_counts()  # as they are after the rollback
    names = {category.id: category.name for category, _, _ in rows}
    page = render_template("admin/categories.html", rows=rows, names=names, form=form)
    return page, status


@bp.post("/categories/new.json")
@editor_required
def new_category_json():
    """The editor's "New category": made without leaving the editor, so its text stays."""
    payload = request.get_json(silent=True)
    name = payload.get("name") if isinstance(payload, dict) else None
    if not isinstance(name, str):
        return jsonify(error="The new category was not understood."), 400
    try:
        category = service.create_category(name)
    except service.TaxonomyError as error:
        db.session.rollback()
        return jsonify(error=str(error)), 400
    db.session.commit()
    message = f"Category “{category.name}” is added and chosen for this post. Save to keep it."
    return jsonify(id=category.id, name=category.name, message=message), 201


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@editor_required
def edit_category(category_id: int):
    category = _category_or_404(category_id)
    form = CategoryForm(obj=category)
    _parent_choices(form, category)
    status = 400 if form.is_submitted() else 200
    shown = request.form.get("shown") or ""
    if not form.is_submitted():
        shown = fingerprint(fields_of(category, CATEGORY_FIELDS))
    if form.validate_on_submit():
        data = form.data
        try:
            check_row_unchanged(category, CATEGORY_FIELDS, shown)
            service.update_category(
                category,
                data["name"],
                data["slug"],
                data["description"],
                data["position"],
                parent_id=data["parent_id"],
            )
        except MissingFingerprint:
            db.session.rollback()
            flash("Nothing was saved: the page did not say what it showed. Reload it.", "error")
        except EditConflict:
            db.session.rollback()
            flash(
                "Nothing was saved: someone else changed this category since this page was "
                "loaded. Your entries are still below; reload the page to see theirs.",
                "error",
            )
            status = 409
        except service.TaxonomyError as error:
            _refuse(form, error)
        else:
            return _saved(f"Category “{category.name}” is saved.", "admin.categories")
    elif form.is_submitted():
        flash(FIX_FIELDS, "error")
    page = render_template("admin/category_edit.html", category=category, form=form, shown=shown)
    return page, status


@bp.route("/categories/<int:category_id>/delete", methods=["GET", "POST"])
@editor_required
def delete_category(category_id: int):
    category = _category_or_404(category_id)
    others = [other for other in service.categories_in_order() if other.id != category.id]
    form = DeleteCategoryForm()
    form.move_to.choices = [SelectChoice("", "No category")] + [
        SelectChoice(value, label)
        for value, label in service.indented_choices()
        if value != str(category.id)
    ]
    if form.validate_on_submit():
        move_to = next((other for other in others if str(other.id) == form.move_to.data), None)
        name, where = category.name, move_to.name if move_to else "no category"
        try:
            moved = service.delete_category(category, move_to)
        except service.TaxonomyError as error:
            _refuse(form, error)
        else:
            message = f"Category “{name}” is deleted; {_plural(moved)} moved to {where}."
            return _saved(message, "admin.categories")
    status = 400 if form.is_submitted() else 200
    children = [other for other in others if other.parent_id == category.id]
    page = render_template(
        "admin/category_delete.html",
        category=category,
        form=form,
        count=_posts_in(category),
        children=children,
        parent=db.session.get(Category, category.parent_id) if category.parent_id else None,
    )
    return page, status


# Tags ---------------------------------------------------------------------------------------


def _tag_page(page: int) -> list[tuple[Tag, int]]:
    """One page of tags by name, each with its number of posts, in one grouped query."""
    query = (
        select(Tag, func.count(post_tag.c.post_id))
        .outerjoin(post_tag, post_tag.c.tag_id == Tag.id)
        .group_by(Tag.id)
        .order_by(Tag.name, Tag.id)
        .limit(TAGS_PER_PAGE)
        .offset((page - 1) * TAGS_PER_PAGE)
    )
    return [(tag, count) for tag, count in db.session.execute(query)]


def _posts_with(tag: Tag) -> int:
    query = select(func.count(post_tag.c.post_id)).where(post_tag.c.tag_id == tag.id)
    return db.session.scalar(query) or 0


@bp.get("/tags/")
@editor_required
def tags():
    page = max(request.args.get("page", 1, type=int), 1)
    total = db.session.scalar(select(func.count(Tag.id))) or 0
    pages = max((total + TAGS_PER_PAGE - 1) // TAGS_PER_PAGE, 1)
    if page > pages:
        abort(404)
    return render_template(
        "admin/tags.html", rows=_tag_page(page), page=page, pages=pages, total=total
    )


def _merge_form(tag: Tag, **options) -> MergeTagForm:
    """The merge select: every other tag by name."""
    form = MergeTagForm(**options)
    others = db.session.scalars(select(Tag).where(Tag.id != tag.id).order_by(Tag.name))
    form.target.choices = [SelectChoice("", "Choose a tag…")] + [
        SelectChoice(str(other.id), other.name) for other in others
    ]
    return form


def _tag_edit_page(tag: Tag, form: TagForm, merge_form: MergeTagForm, status: int = 200):
    page = render_template(
        "admin/tag_edit.html",
        tag=tag,
        form=form,
        merge_form=merge_form,
        count=_posts_with(tag),
    )
    return page, status


@bp.route("/tags/<int:tag_id>", methods=["GET", "POST"])
@editor_required
def edit_tag(tag_id: int):
    tag = _tag_or_404(tag_id)
    form = TagForm(obj=tag)
    if form.validate_on_submit():
        try:
            service.rename_tag(tag, form.name.data, form.slug.data)
        except service.TaxonomyError as error:
            _refuse(form, error)
        else:
            return _saved(f"Tag “{tag.name}” is saved.", "admin.edit_tag", tag_id=tag.id)
    elif form.is_submitted():
        flash(FIX_FIELDS, "error")
    status = 400 if form.is_submitted() else 200
    return _tag_edit_page(tag, form, _merge_form(tag, formdata=None), status)


@bp.post("/tags/<int:tag_id>/merge")
@editor_required
def merge_tag(tag_id: int):
    source = _tag_or_404(tag_id)
    form = _merge_form(source)
    if form.validate_on_submit():
        target = _tag_or_404(int(form.target.data))
        name = source.name
        try:
            service.merge_tags(source, target)
        except service.TaxonomyError as error:
            _refuse(form, error)
        else:
            message = f"Tag “{name}” is merged into “{target.name}”."
            return _saved(message, "admin.edit_tag", tag_id=target.id)
    else:
        flash(FIX_FIELDS, "error")
    return _tag_edit_page(source, TagForm(obj=source, formdata=None), form, 400)


@bp.route("/tags/<int:tag_id>/delete", methods=["GET", "POST"])
@editor_required
def delete_tag(tag_id: int):
    """GET asks for confirmation; POST deletes."""
    tag = _tag_or_404(tag_id)
    form = ActionForm()
    if form.validate_on_submit():
        name = tag.name
        service.delete_tag(tag)
        return _saved(f"Tag “{name}” is deleted.", "admin.tags")
    status = 400 if form.is_submitted() else 200
    page = render_template("admin/tag_delete.html", tag=tag, form=form, count=_posts_with(tag))
    return page, status


@bp.get("/tags/suggest.json")
def tag_suggest():
    """Tag names for the post editor; any signed-in user (the blueprint requires sign-in)."""
    prefix = request.args.get("q", "")
    limit = request.args.get("limit", 20, type=int)
    return jsonify({"tags": service.tag_suggestions(prefix, limit)})
