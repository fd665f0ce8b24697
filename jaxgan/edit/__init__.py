"""Apply trained models to user images (DESIGN.md, edit/): image-to-image translation."""
