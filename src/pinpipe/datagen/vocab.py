"""The words the generator draws from: categories, countries, names, and DESIGN.md's dirty values.

Plain data, no logic. Weights need not sum to one; the generator normalises them.
"""

from __future__ import annotations

# The thirteen categories of the original dataset with rough shares of its pins.
CATEGORIES: dict[str, float] = {
    "art": 9, "beauty": 7, "christmas": 8, "diy-and-crafts": 9, "education": 7,
    "event-planning": 7, "finance": 6, "home-decor": 9, "mens-fashion": 7, "quotes": 8,
    "tattoos": 8, "travel": 9, "vehicles": 6,
}

# Per category: subjects for titles and tags for tag_list.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "art": ("Watercolor Painting", "Abstract Art", "Pencil Drawing", "Acrylic Landscape", "Portrait Sketch",
            "Canvas Wall Art", "Ink Illustration"),
    "beauty": ("Smokey Eye Makeup", "Skincare Routine", "Braided Hairstyles", "Nail Art Designs",
               "Natural Makeup Look", "Hair Color Ideas"),
    "christmas": ("Christmas Tree Decorations", "Handmade Ornaments", "Christmas Cookies", "Holiday Table Setting",
                  "Advent Calendar", "Christmas Wreath"),
    "diy-and-crafts": ("Mason Jar Crafts", "Paper Flowers", "Upcycled Furniture", "Macrame Wall Hanging",
                       "Kids Crafts", "Resin Coasters", "Crochet Patterns"),
    "education": ("Classroom Organization", "Math Worksheets", "Reading Activities", "Science Experiments",
                  "Homeschool Schedule", "Study Tips"),
    "event-planning": ("Wedding Decorations", "Birthday Party Ideas", "Baby Shower Themes", "Party Favors",
                       "Rustic Wedding Centerpieces", "Graduation Party"),
    "finance": ("Budget Planner", "Saving Money Tips", "Debt Payoff Plan", "Side Hustle Ideas",
                "Investing for Beginners", "Frugal Living"),
    "home-decor": ("Living Room Ideas", "Farmhouse Kitchen", "Bedroom Makeover", "Bathroom Decor",
                   "Gallery Wall", "Boho Interior", "Small Space Storage"),
    "mens-fashion": ("Mens Street Style", "Casual Outfits for Men", "Business Casual", "Mens Haircuts",
                     "Leather Boots", "Summer Outfits for Men"),
    "quotes": ("Inspirational Quotes", "Life Quotes", "Motivational Sayings", "Love Quotes", "Funny Quotes",
               "Positive Affirmations"),
    "tattoos": ("Small Tattoo Ideas", "Floral Tattoo", "Minimalist Tattoos", "Sleeve Tattoo", "Script Tattoo",
                "Geometric Tattoo"),
    "travel": ("Travel Destinations", "Backpacking Europe", "Road Trip Tips", "Beach Vacation", "Packing List",
               "Hidden Gems in Italy", "Bucket List Places"),
    "vehicles": ("Classic Cars", "Motorcycle Builds", "Camper Van Conversion", "Jeep Wrangler Mods",
                 "Muscle Cars", "Car Interior Ideas"),
}

TAGS: dict[str, tuple[str, ...]] = {
    "art": ("Art Drawings", "Painting Techniques", "Watercolor Art", "Art Inspiration", "Sketchbook",
            "Art Projects", "Easy Paintings", "Art Tutorials"),
    "beauty": ("Makeup Tips", "Beauty Hacks", "Skin Care", "Hair Tutorials", "Natural Beauty", "Nail Designs",
               "Eye Makeup", "Beauty Tips"),
    "christmas": ("Christmas Crafts", "Christmas Decor", "Holiday Baking", "Winter Christmas", "Snowman",
                  "Christmas Gifts", "Xmas", "Holiday Decor"),
    "diy-and-crafts": ("Diy Crafts", "Crafts For Kids", "Diy Home Decor", "Easy Diy", "Craft Ideas", "Upcycle",
                       "Handmade Gifts", "Diy Projects"),
    "education": ("Teaching Ideas", "Classroom Ideas", "Learning Activities", "Homeschool", "Kindergarten",
                  "Teacher Resources", "Study Motivation", "Worksheets"),
    "event-planning": ("Wedding Ideas", "Party Decorations", "Party Planning", "Birthday Party",
                       "Wedding Inspiration", "Diy Party", "Event Decor", "Baby Shower"),
    "finance": ("Money Saving Tips", "Budgeting", "Personal Finance", "Financial Freedom", "Save Money",
                "Money Management", "Debt Free", "Passive Income"),
    "home-decor": ("Home Decor", "Living Room Decor", "Interior Design", "Farmhouse Decor", "Bedroom Decor",
                   "Home Organization", "Cozy Home", "Decor Ideas"),
    "mens-fashion": ("Mens Fashion", "Men Style", "Mens Outfits", "Street Style", "Menswear", "Casual Style",
                     "Mens Fashion Casual", "Gentleman Style"),
    "quotes": ("Quotes", "Life Quotes", "Inspirational Quotes", "Motivation", "Words Of Wisdom",
               "Positive Quotes", "Quotes To Live By", "True Quotes"),
    "tattoos": ("Tattoo Designs", "Small Tattoos", "Tattoo Ideas", "Tattoos For Women", "Tattoos For Guys",
                "Minimalist Tattoo", "Body Art", "Ink"),
    "travel": ("Travel Tips", "Travel Destinations", "Places To Travel", "Travel Photography", "Wanderlust",
               "Vacation", "Travel Guide", "Adventure Travel"),
    "vehicles": ("Classic Cars", "Cars And Motorcycles", "Dream Cars", "Vintage Cars", "Motorcycles",
                 "Car Accessories", "Jeep", "Van Life"),
}

TITLE_OPENERS = ("", "Easy", "Beautiful", "Simple", "The Best", "Amazing", "Cute", "Modern", "Creative",
                 "25", "10", "Stunning", "Quick", "Cheap")
TITLE_ENDINGS = ("", " Ideas", " for Beginners", " You Need to Try", " to Copy Now", " | Step by Step",
                 " on a Budget", " Inspiration")

# "{subject}" is a title subject in lower case.
DESCRIPTION_OPENERS = ("Looking for {subject}? Here are our favourites.",
                       "The ultimate guide to {subject}, with photos and tips.",
                       "All about {subject} in one place.", "We tried {subject} so you don't have to.",
                       "My favourite {subject} this year.")
DESCRIPTION_MIDDLES = ("Everything you need is probably already in your house.",
                       "It only takes a few minutes a day.", "Perfect for a rainy weekend.",
                       "These ideas work for every budget.", "Pin it now and thank yourself later.",
                       "Read the full post for all the details.", "Simple, cheap and so satisfying.")
DESCRIPTION_CLOSERS = ("", " Save this pin for later!", " Follow for more ideas.", " Click through for the full list.")

BRAND_ADJECTIVES = ("Crafty", "Simply", "Happy", "Wild", "Modern", "Little", "Cozy", "Frugal", "Urban",
                    "Creative", "Wandering", "Inked")
BRAND_NOUNS = ("Mama", "Home", "Studio", "Nomad", "Designs", "Life", "Kitchen", "Garage", "Collective",
               "Journal", "Club", "Muse")

FIRST_NAMES = ("Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
               "Abigail", "Emily", "Ella", "Madison", "Scarlett", "Grace", "Chloe", "Victoria", "Riley", "Aria",
               "Lily", "Zoey", "Hannah", "Nora", "Layla", "Liam", "Noah", "William", "James", "Oliver",
               "Benjamin", "Elijah", "Lucas", "Mason", "Logan", "Alexander", "Ethan", "Jacob", "Michael",
               "Daniel", "Henry", "Jackson", "Sebastian", "Aiden", "Matthew", "Samuel", "David", "Joseph",
               "Carter", "Owen", "Maria", "Sofia", "Lucia", "Mateo", "Leon", "Hugo", "Anna", "Yuki", "Priya",
               "Arjun")
LAST_NAMES = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
              "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
              "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
              "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen",
              "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
              "Carter", "Roberts", "Muller", "Schmidt", "Rossi", "Dubois", "Silva", "Kowalski", "Tanaka",
              "Patel", "Kim", "Singh")

# Country, share of users, and a bounding box (lat_min, lat_max, lon_min, lon_max) for its coordinates.
COUNTRIES: tuple[tuple[str, float, float, float, float, float], ...] = (
    ("United States of America", 34, 25.0, 49.0, -124.0, -67.0),
    ("Brazil", 7, -33.0, 5.0, -73.0, -35.0),
    ("Mexico", 5, 15.0, 32.0, -117.0, -87.0),
    ("Germany", 5, 47.3, 55.0, 5.9, 15.0),
    ("United Kingdom", 5, 50.0, 58.6, -7.5, 1.7),
    ("France", 4, 42.3, 51.0, -4.7, 8.2),
    ("Canada", 4, 42.0, 60.0, -135.0, -53.0),
    ("India", 3, 8.0, 32.0, 68.0, 89.0),
    ("Japan", 3, 31.0, 45.0, 130.0, 145.0),
    ("Italy", 3, 37.0, 46.5, 7.0, 18.5),
    ("Spain", 3, 36.0, 43.7, -9.3, 3.3),
    ("Australia", 3, -38.0, -12.0, 114.0, 153.0),
    ("Argentina", 2, -54.0, -22.0, -73.0, -54.0),
    ("Netherlands", 2, 50.8, 53.5, 3.4, 7.2),
    ("Poland", 2, 49.0, 54.8, 14.1, 24.1),
    ("Colombia", 2, -4.2, 12.4, -79.0, -67.0),
    ("Philippines", 2, 5.0, 19.0, 117.0, 126.5),
    ("Turkey", 1.5, 36.0, 42.0, 26.0, 44.8),
    ("South Africa", 1.5, -34.8, -22.1, 16.5, 32.9),
    ("Sweden", 1, 55.3, 69.0, 11.0, 24.2),
    ("Chile", 1, -55.0, -17.5, -75.6, -67.0),
    ("Indonesia", 1, -10.0, 5.9, 95.0, 141.0),
    ("Portugal", 1, 37.0, 42.1, -9.5, -6.2),
    ("Ireland", 0.8, 51.4, 55.4, -10.5, -6.0),
    ("New Zealand", 0.7, -46.6, -34.4, 166.4, 178.5),
    ("Nigeria", 0.7, 4.3, 13.9, 2.7, 14.7),
    ("South Korea", 0.7, 33.1, 38.6, 125.0, 129.6),
    ("Norway", 0.5, 58.0, 71.0, 4.6, 31.0),
)

# DESIGN.md's dirty values, verbatim: the cleaning code matches these exact strings.
NO_TITLE = "No Title Data Available"
NO_DESCRIPTION = "No description available"
STORY_DESCRIPTION = "No description available Story format"
USER_INFO_ERROR = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR = "Image src error."
MULTI_VIDEO = "multi-video(story page format)"
SAVE_LOCATION_PREFIX = "Local save in "
# Shapes of broken unique_id seen in scraped data: cut short, garbled, or a placeholder.
BAD_UNIQUE_ID_KINDS = ("truncated", "garbled", "placeholder")
BAD_UNIQUE_ID_PLACEHOLDER = "unique_id unavailable"
