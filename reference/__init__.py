"""Reference solutions of the course assignments (hidden from students; `student/` is generated from here)."""
