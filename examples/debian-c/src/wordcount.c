/* wordcount: reads text on stdin, prints each word and its count, most
 * frequent first (ties in alphabetical order). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
  char *word;
  long count;
};

static struct entry *entries;
static size_t used, capacity;

static void add_word(const char *word) {
  for (size_t i = 0; i < used; ++i) {
    if (strcmp(entries[i].word, word) == 0) {
      entries[i].count++;
      return;
    }
  }
  if (used == capacity) {
    capacity = capacity ? capacity * 2 : 64;
    entries = realloc(entries, capacity * sizeof *entries);
    if (!entries) {
      perror("realloc");
      exit(2);
    }
  }
  entries[used].word = strdup(word);
  entries[used].count = 1;
  used++;
}

static int by_count(const void *a, const void *b) {
  const struct entry *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->word, y->word);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    puts("wordcount 1.0");
    return 0;
  }
  char word[256];
  size_t len = 0;
  int c;
  while ((c = getchar()) != EOF) {
    if (isalnum(c)) {
      if (len + 1 < sizeof word) word[len++] = (char)tolower(c);
    } else if (len > 0) {
      word[len] = '\0';
      add_word(word);
      len = 0;
    }
  }
  if (len > 0) {
    word[len] = '\0';
    add_word(word);
  }
  if (used > 0) qsort(entries, used, sizeof *entries, by_count);
  for (size_t i = 0; i < used; ++i) printf("%s %ld\n", entries[i].word, entries[i].count);
  for (size_t i = 0; i < used; ++i) free(entries[i].word);
  free(entries);
  return 0;
}
