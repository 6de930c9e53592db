"""Pages beside the lessons: home, your runs, the class board."""
