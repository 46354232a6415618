"""Qt-free core: recipes, latents and the maths shared by every front end."""
