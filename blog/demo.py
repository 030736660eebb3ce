"""Sample content for trying the blog, taking screenshots and browser tests."""

import io
import random

from PIL import Image, ImageDraw
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from .extensions import db
from .media import save_upload
from .models import Category, PostKind, User
from .posts import Action, PostInput, save_post

PARAGRAPHS = [
    "The boats came back at dawn, heavier than they left. “We haven’t seen a catch like this "
    "in years,” said the harbour master, counting crates on the quay while gulls argued overhead.",
    "Prices at the morning auction fell by a third before nine o’clock. Restaurant buyers from "
    "the city filled their vans; the smaller shops waited for the afternoon lots.",
    "Not everyone is celebrating. The co-operative warned that a single good season does not "
    "undo ten lean ones, and that the new quota rules arrive in the spring regardless.",
    "Down the coast, the lifeboat crew spent the week rehearsing night launches. Volunteers "
    "train twice a week, and most of them have day jobs in town.",
    "The council says the harbour wall repairs will cost $2.4 million and take two summers. "
    "Work starts once the tourist season ends, to spare the cafés on the front.",
]

STORIES = [
    ("Fishermen report the best catch in a decade", "Harbour", ["fishing", "economy"]),
    ("Council approves harbour wall repairs", "Town", ["council", "harbour"]),
    ("Lifeboat crew rehearses night launches", "Harbour", ["lifeboat"]),
    ("Morning market prices fall by a third", "Business", ["economy", "market"]),
    ("New ferry timetable starts on Monday", "Town", ["transport"]),
    ("Storm warning for the weekend", "Weather", ["weather", "harbour"]),
]


def demo_image(seed: int, size=(1600, 1000)) -> FileStorage:
    """A generated landscape-like picture (no external files needed)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(40, 120), rng.randrange(90, 160), 200))
    draw = ImageDraw.Draw(image)
    horizon = int(size[1] * rng.uniform(0.45, 0.65))
    draw.rectangle([0, horizon, size[0], size[1]], fill=(20, rng.randrange(60, 110), 130))
    for _ in range(6):
        x = rng.randrange(0, size[0] - 200)
        draw.polygon(
            [
                (x, horizon + 40),
                (x + 200, horizon + 40),
                (x + 160, horizon + 90),
                (x + 40, horizon + 90),
            ],
            fill=(rng.randrange(120, 230), 60, 40),
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    return FileStorage(buffer, filename=f"demo-{seed}.jpg", content_type="image/jpeg")


def demo_portrait(size=400) -> FileStorage:
    """A generated head-and-shoulders silhouette for the author box."""
    image = Image.new("RGB", (size, size), (214, 200, 180))
    draw = ImageDraw.Draw(image)
    draw.ellipse([size * 0.3, size * 0.15, size * 0.7, size * 0.58], fill=(90, 70, 60))
    draw.ellipse([size * 0.12, size * 0.62, size * 0.88, size * 1.3], fill=(40, 70, 110))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    return FileStorage(buffer, filename="portrait.jpg", content_type="image/jpeg")


def seed_demo_site(author: User) -> int:
    """Add categories, six illustrated posts and an About page; returns the number of posts."""
    if db.session.scalar(select(Category.id).where(Category.slug == "harbour")) is not None:
        raise ValueError("The sample content is already there.")
    categories = {}
    for position, name in enumerate(["Harbour", "Town", "Business", "Weather"]):
        categories[name] = Category(
            name=name, slug=name.lower(), position=position,
            description=f"Everything about the {name.lower()}.",
        )  # fmt: skip
        db.session.add(categories[name])
    db.session.flush()
    for number, (title, category, tags) in enumerate(STORIES):
        media = save_upload(demo_image(number), author)
        media.alt_text = f"Illustration for “{title}”"
        db.session.flush()
        body = "\n\n".join(PARAGRAPHS[number % 2 :] + PARAGRAPHS[: number % 2])
        body += "\n\n> A good harbour is a town’s front door.\n\n## What happens next\n\n"
        body += "- the co-operative meets on Thursday\n- the council publishes its plan\n"
        data = PostInput(
            title=title, body_md=body, category_id=categories[category].id, tags=", ".join(tags),
            featured_media_id=media.id, featured_alt=media.alt_text,
            featured_caption=f"Photo: {author.display_name}",
        )  # fmt: skip
        save_post(None, data, author, action=Action.PUBLISH)
    if not author.bio:
        author.bio = "Reports on the harbour, the town council and the weather that rules both."
    if author.avatar_media_id is None:
        author.avatar = save_upload(demo_portrait(), author)
    about = PostInput(title="About", kind=PostKind.PAGE, body_md=PARAGRAPHS[0])
    save_post(None, about, author, action=Action.PUBLISH)
    return len(STORIES) + 1
