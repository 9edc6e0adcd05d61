"""AI providers behind one interface: offline local (default) and Gemini via google-genai."""
